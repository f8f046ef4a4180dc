import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from avalanche_featadapt import HerdingSelector


def check_against_brute_force(x: torch.Tensor, got: list, m: int):
    """iCaRL's rule written out literally: at step k, try every unchosen
    candidate and measure how close its addition brings the mean of the
    chosen set to the class mean. The selector's pick must be the closest;
    exact ties (e.g. two points, equally far from their mean) may go either
    way, and the check then follows the selector's pick."""
    x = F.normalize(x, dim=1)
    mu = x.mean(0)
    assert len(got) == m and len(set(got)) == m
    chosen = []
    for k in range(1, m + 1):
        s = x[chosen].sum(0) if chosen else torch.zeros_like(mu)
        dist = {
            i: torch.linalg.norm(mu - (s + x[i]) / k).item()
            for i in range(x.shape[0])
            if i not in chosen
        }
        best = min(dist.values())
        assert dist[got[k - 1]] <= best + 1e-9, (k, got[k - 1], min(dist, key=dist.get))
        chosen.append(got[k - 1])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 12),
    m=st.integers(0, 45),
    seed=st.integers(0, 10_000),
)
def test_herding_matches_brute_force(n, d, m, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    got = HerdingSelector().select(x, m).tolist()
    check_against_brute_force(x, got, min(m, n))


def test_brute_force_check_catches_a_wrong_pick():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], dtype=torch.float64)
    # the point nearest the mean is index 2; picking 0 first must fail
    with pytest.raises(AssertionError):
        check_against_brute_force(x, [0, 2], 2)
    check_against_brute_force(x, HerdingSelector().select(x, 2).tolist(), 2)


def test_herding_prefix_property_and_distinct():
    x = torch.randn(100, 16, dtype=torch.float64)
    sel = HerdingSelector()
    full = sel.select(x, 30).tolist()
    assert len(set(full)) == 30
    assert sel.select(x, 10).tolist() == full[:10]


def test_herding_mean_closer_than_random():
    x = torch.randn(500, 32) + torch.randn(32)
    xn = F.normalize(x, dim=1)
    mu = xn.mean(0)
    herd = xn[HerdingSelector().select(x, 10)].mean(0)
    rand = xn[HerdingSelector(mode="random").select(x, 10)].mean(0)
    assert (herd - mu).norm() < 0.5 * (rand - mu).norm()


def test_closest_mode_and_random_mode():
    x = torch.randn(50, 4, dtype=torch.float64)
    xn = F.normalize(x, dim=1)
    dist = (xn - xn.mean(0)).norm(dim=1)
    got = HerdingSelector(mode="closest").select(x, 5)
    assert set(got.tolist()) == set(torch.argsort(dist)[:5].tolist())
    r = HerdingSelector(mode="random", seed=3).select(x, 7)
    assert len(set(r.tolist())) == 7


def test_bad_inputs():
    with pytest.raises(ValueError, match="mode must be one of"):
        HerdingSelector(mode="greedy")
    with pytest.raises(ValueError, match="2-D"):
        HerdingSelector().select(torch.randn(5), 2)
    with pytest.raises(ValueError, match="NaN or inf"):
        HerdingSelector().select(torch.tensor([[1.0, float("nan")]]), 1)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: HerdingSelector(seed="abc"), "seed must be an int.*'abc'"),
        (lambda: HerdingSelector(seed=1.5), "seed must be an int"),
        (lambda: HerdingSelector(normalize="no"), "normalize must be True or False"),
        (lambda: HerdingSelector().select(torch.randn(5, 2), m=-3), "m, .* >= 0.*-3"),
        (lambda: HerdingSelector()(torch.randn(5, 2), 2.5), "m, .*int >= 0.*2.5"),
    ],
)
def test_bad_arguments_are_refused_at_the_call(make, match):
    """seed="abc" was kept until a random selection failed; m=-3 selected
    nothing."""
    with pytest.raises(ValueError, match=match):
        make()

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from avalanche_featadapt import HerdingSelector


def brute_force_herding(x: torch.Tensor, m: int) -> list:
    """iCaRL's rule written out literally: at step k, try every unchosen
    candidate and keep the one whose addition brings the mean of the chosen
    set closest to the class mean."""
    x = F.normalize(x, dim=1)
    mu = x.mean(0)
    chosen = []
    for k in range(1, m + 1):
        best, best_d = None, float("inf")
        for i in range(x.shape[0]):
            if i in chosen:
                continue
            s = x[chosen].sum(0) if chosen else torch.zeros_like(mu)
            d = torch.linalg.norm(mu - (s + x[i]) / k).item()
            if d < best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


@settings(max_examples=25, deadline=None)
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
    assert got == brute_force_herding(x, min(m, n))


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

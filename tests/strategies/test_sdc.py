import math

import torch

from avalanche_featadapt import SplitDigits, make_digits_model
from avalanche_featadapt.plugins import compensate_drift
from avalanche_featadapt.strategies import SDCStrategy, TripletLoss
from helpers import make_evaluator, stream_accuracy


def test_drift_equals_hand_computed_example():
    mu = torch.tensor([[0.0, 0.0]])
    z_old = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z_new = torch.tensor([[2.0, 0.0], [0.0, 5.0]])  # deltas (1, 0) and (0, 3)
    sigma = 1.0
    w1, w2 = math.exp(-1 / 2), math.exp(-4 / 2)
    expected = torch.tensor([[w1 * 1 / (w1 + w2), w2 * 3 / (w1 + w2)]])
    got = compensate_drift(mu, z_old, z_new, sigma)
    assert torch.allclose(got, expected, atol=1e-6)


def test_pure_translation_is_recovered_exactly():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(5, 8, generator=g)
    z_old = torch.randn(100, 8, generator=g)
    shift = torch.randn(8, generator=g)
    got = compensate_drift(mu, z_old, z_old + shift, sigma=0.3)
    assert torch.allclose(got, mu + shift, atol=1e-5)


def test_large_sigma_gives_plain_mean_drift():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(3, 4, generator=g)
    z_old, z_new = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g)
    got = compensate_drift(mu, z_old, z_new, sigma=1e4)
    assert torch.allclose(got, mu + (z_new - z_old).mean(0), atol=1e-5)


def test_small_sigma_does_not_underflow():
    mu = torch.tensor([[10.0, 10.0]])
    z_old = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    got = compensate_drift(mu, z_old, z_old + torch.tensor([1.0, -1.0]), sigma=0.01)
    assert torch.isfinite(got).all()
    assert torch.allclose(got, mu + torch.tensor([1.0, -1.0]))


def test_smooth_drift_compensation_beats_no_compensation():
    """A drift field that varies slowly over the space, shared by old and new
    samples nearby: compensated prototypes land closer to the true new means."""
    g = torch.Generator().manual_seed(0)
    d = 4

    def field(z):
        return 0.5 * torch.sin(z[:, [1, 2, 3, 0]]) + 0.3 * z.roll(1, dims=1)

    centres = torch.randn(6, d, generator=g) * 2
    old_cls = [centres[c] + 0.3 * torch.randn(60, d, generator=g) for c in range(3)]
    cur = torch.cat(
        [centres[c] + 0.3 * torch.randn(60, d, generator=g) for c in range(3, 6)]
        + [torch.randn(200, d, generator=g) * 2]
    )
    mu_old = torch.stack([x.mean(0) for x in old_cls])
    true_new = torch.stack([(x + field(x)).mean(0) for x in old_cls])
    comp = compensate_drift(mu_old, cur, cur + field(cur), sigma=1.0)
    err_comp = (comp - true_new).norm(dim=1)
    err_stale = (mu_old - true_new).norm(dim=1)
    assert (err_comp < err_stale).all()
    assert err_comp.mean() < 0.5 * err_stale.mean()


def test_triplet_loss_zero_when_separated_and_positive_otherwise():
    loss = TripletLoss(margin=0.3)
    z = torch.tensor([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [-1.0, 0.01]])
    y = torch.tensor([0, 0, 1, 1])
    assert loss(z, y).item() == 0.0
    assert loss(z, torch.tensor([0, 1, 0, 1])).item() > 0.3


def test_sdc_strategy_runs_and_prototypes_are_its_memory(digits, tmp_path):
    torch.manual_seed(0)
    m = make_digits_model()
    s = SDCStrategy(
        model=m,
        optimizer=torch.optim.Adam(m.parameters(), lr=1e-3),
        train_epochs=2,
        evaluator=make_evaluator(tmp_path),
        regularizer="distill",
    )
    for exp in digits.train_stream[:2]:
        s.train(exp)
    acc = stream_accuracy(s.eval(digits.test_stream[:2]))
    assert acc > 0.5
    assert sorted(s.sdc.prototypes) == sorted(digits.classes_order[:4])
    assert s.sdc.nbytes == 4 * 64 * 4

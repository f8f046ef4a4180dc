import pytest
import torch
import torch.nn.functional as F

from avalanche_featadapt import AdapterTrainer, FeatureAdapter, FeatureBuffer


def known_map(d=16, seed=0):
    """A random rotation plus a shift plus a mild nonlinearity."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    shift = 0.5 * torch.randn(d, generator=g)
    return lambda v: v @ q.T + shift + 0.1 * torch.tanh(v)


def test_adapter_learns_a_known_map_to_held_out_cosine_above_099():
    d = 16
    f = known_map(d)
    g = torch.Generator().manual_seed(1)
    v_hat = torch.randn(2000, d, generator=g)
    trainer = AdapterTrainer(buffer=FeatureBuffer(mem_size=10), epochs=40)
    phi = trainer.fit(v_hat, f(v_hat))
    assert trainer.history[-1]["holdout_cosine"] > 0.99
    # and on fresh points it never saw
    fresh = torch.randn(500, d, generator=g)
    cos = F.cosine_similarity(phi(fresh), f(fresh), dim=1).mean().item()
    assert cos > 0.99
    assert trainer.history[-1]["stale_cosine"] < 0.5  # the map is far from identity


def test_residual_adapter_starts_as_identity():
    phi = FeatureAdapter(8, 32, residual=True)
    v = torch.randn(5, 8)
    assert torch.equal(phi(v), v)


def test_adapter_moves_only_old_classes_of_the_buffer():
    buf = FeatureBuffer(mem_size=100)
    buf.add(torch.randn(20, 4), torch.tensor([0] * 10 + [1] * 10))
    trainer = AdapterTrainer(buffer=buf, epochs=5)
    phi = trainer.fit(torch.randn(50, 4), torch.randn(50, 4))
    before0, before1 = buf.features_of(0).clone(), buf.features_of(1).clone()
    buf.transform(phi, classes=[0])
    with torch.no_grad():
        assert torch.allclose(buf.features_of(0), phi(before0), atol=1e-6)
    assert torch.equal(buf.features_of(1), before1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"buffer": None}, "buffer must be a FeatureBuffer"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"lambda_cls": -0.1}, "lambda_cls must be a number >= 0"),
        ({"holdout": 1.0}, "holdout must be in"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"buffer": FeatureBuffer(mem_size=10), **kwargs}
    with pytest.raises(ValueError, match=match):
        AdapterTrainer(**args)

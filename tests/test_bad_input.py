"""Bad input and faults get a clear error that says what to pass instead,
and nothing is lost: the strategy, its memory and its weights are as they
were (issue 10, items 5 and 6)."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

from avalanche_featadapt import FeatureAdaptationStrategy, make_digits_model
from conftest import make_evaluator


def _fa(**kw):
    m = make_digits_model()
    kw.setdefault("memory_bytes", 51_200)
    return FeatureAdaptationStrategy(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.05),
        train_epochs=1,
        head_epochs=2,
        adapter_kwargs={"epochs": 2},
        evaluator=make_evaluator(),
        **kw,
    )


def _digits_benchmark(poison=None):
    """SplitDigits-like 5x2 benchmark from tensors; ``poison`` = (class,
    value) puts that value into one pixel of the first image of the class."""
    from avalanche.benchmarks import nc_benchmark

    d = load_digits()
    x = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    if poison is not None:
        c, value = poison
        x[(y == c).nonzero()[0, 0], 0, 3, 3] = value
    ds = TensorDataset(x, y)
    ds.targets = y.tolist()
    return nc_benchmark(
        ds,
        ds,
        n_experiences=5,
        task_labels=False,
        seed=0,
        fixed_class_order=list(range(10)),
    )


def _weights(s):
    """The backbone's weights and BatchNorm statistics (the head may grow
    new units for new classes before any check)."""
    fe = s.model.feature_extractor
    return {k: v.clone() for k, v in fe.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------- item 5: all or nothing
def test_budget_refusal_comes_before_anything_moves_and_a_retry_is_safe(digits):
    s = _fa(memory_bytes=700)  # two 256-byte features: not enough for 4 classes
    s.train(digits.train_stream[0])
    feats = s.buffer.features()[0].clone()
    weights = _weights(s)
    for _ in range(2):  # the retry must not adapt the features a second time
        with pytest.raises(ValueError, match="fewer than the 4 classes seen"):
            s.train(digits.train_stream[1])
        assert torch.equal(s.buffer.features()[0], feats)
        assert _same(_weights(s), weights)  # refused before training
    assert len(s.adapter.adapters) == 0


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_nan_or_inf_image_is_refused_before_the_optimizer_step(value):
    bm = _digits_benchmark(poison=(3, value))
    s = _fa()
    s.train(bm.train_stream[0])
    feats = s.buffer.features()[0].clone()
    with pytest.raises(ValueError, match="of experience 1 contain NaN or inf"):
        s.train(bm.train_stream[1])
    # the bad batch never reached the forward pass or the optimizer step
    state = s.model.state_dict()  # BatchNorm's running statistics included
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert torch.equal(s.buffer.features()[0], feats)


def test_float16_features_beyond_its_range_are_refused(digits):
    s = _fa(feature_dtype="float16")

    class Huge(torch.nn.Module):  # a backbone whose features exceed 65504
        def __init__(self, fe):
            super().__init__()
            self.fe = fe

        def forward(self, x):
            return self.fe(x) * 1e6

    s.model.feature_extractor = Huge(s.model.feature_extractor)
    with pytest.raises(ValueError, match="beyond float16's largest value 65504"):
        s.train(digits.train_stream[0])
    assert s.buffer.classes == [] and len(s.buffer) == 0

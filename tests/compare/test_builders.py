import csv
import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from avalanche_featadapt.benchmarks import parse_protocol
from avalanche_featadapt.compare import (
    BENCHMARKS,
    STRATEGIES,
    build_strategy,
    icarl_memory_size,
)
from avalanche_featadapt.compare.run import evaluator
from avalanche_featadapt.memory import image_bytes, memory_bytes_of
from avalanche_featadapt import SplitDigits, make_digits_model
from helpers import make_evaluator

MEMORY_STRATEGIES = [n for n, s in STRATEGIES.items() if s.keeps_memory]


def make_benchmark(name, protocol, *, seed, data_root=None):
    return BENCHMARKS[name].build(protocol, seed=seed, data_root=data_root)


@pytest.mark.slow
@pytest.mark.parametrize("name", MEMORY_STRATEGIES + ["naive", "lwf"])
def test_reported_bytes_equal_what_is_held_and_fit_the_budget(name, digits):
    budget = 12_800  # 200 digit images of 64 B (8-bit pixels), 188 int8 features
    s = build_strategy(
        name,
        model_factory=make_digits_model,
        benchmark=digits,
        memory_bytes=budget,
        epochs=1,
        lr=1e-3,
        batch_size=64,
        device="cpu",
        evaluator=evaluator(None),
    )
    for i, exp in enumerate(digits.train_stream[:3]):
        s.train(exp)
        res = s.eval(digits.test_stream[: i + 1])
        reported = res["MemoryBytes/eval_phase/test_stream"]
        # count independently, straight from the strategy's own containers
        if name in ("icarl",):
            icarl = [p for p in s.plugins if type(p).__name__ == "_ICaRLPlugin"][0]
            held = sum(x.numel() for x in icarl.x_memory)  # 1 B per pixel
        elif name == "replay":
            rp = [p for p in s.plugins if type(p).__name__ == "ReplayPlugin"][0]
            held = len(rp.storage_policy.buffer) * 64
            assert len(rp.storage_policy.buffer) == 200  # 200 images of 64 B
        elif name.startswith("sdc"):
            held = len(s.sdc.prototypes) * 64 * 4
        elif name.startswith("featadapt"):
            # int4 by default: two values a byte plus a float32 offset and
            # step per feature; int8: 1 B per value plus a float32 scale
            per = {"fp16": 64 * 2, "fp32": 64 * 4, "int8": 64 + 4}.get(
                name.split("-")[-1], 32 + 8
            )
            held = len(s.buffer) * per
            if s.image_memory is not None:
                held += len(s.image_memory.storage_policy.buffer) * 64
        else:
            held = 0
        assert reported == held == memory_bytes_of(s)
        assert reported <= budget
        if name in MEMORY_STRATEGIES:
            assert reported > 0


def test_images_count_as_8_bit_pixels():
    # independent of the dataset's float32 transform: H x W x C bytes
    assert image_bytes(torch.zeros(1, 8, 8)) == 64
    assert image_bytes(torch.zeros(3, 32, 32)) == 3_072
    assert image_bytes(torch.zeros(1, 28, 28, dtype=torch.float64)) == 784


def test_icarl_memory_size_never_exceeds_images():
    for n, steps in ((200, [2] * 5), (200, [5] + [1] * 5), (37, [3, 3, 4])):
        m = icarl_memory_size(n, steps)
        seen = [sum(steps[: i + 1]) for i in range(len(steps))]
        assert all(math.ceil(m / k) * k <= n for k in seen)
        assert not all(math.ceil((m + 1) / k) * k <= n for k in seen) or m == n


def test_protocols():
    assert parse_protocol("b0-5", 10) == (5, None)
    assert parse_protocol("b50-5", 100) == (6, 50)
    assert parse_protocol("b50-25", 100) == (26, 50)
    bm = make_benchmark("split-digits", "b50-5", seed=0)
    assert bm.n_classes_per_exp == [5, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="do not divide into 3"):
        SplitDigits(4, first_exp_classes=3)  # parse_protocol's rule, one place


def test_fake_imagenet_folder(tmp_path):
    from PIL import Image
    import numpy as np

    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
    for split in ("train", "val"):
        for c in ("cat", "dog", "eel", "fox"):
            d = tmp_path / split / c
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.stack([ramp, ramp.T, ramp], -1)).save(
                    d / f"{i}.JPEG"
                )
    bm = make_benchmark("imagenet-subset", "b50-2", seed=0, data_root=tmp_path)
    assert bm.n_classes_per_exp == [2, 1, 1]
    ds = bm.train_stream[0].dataset
    torch.manual_seed(0)
    a, b = ds[0][0], ds[0][0]
    assert a.shape == (3, 224, 224)
    assert not torch.equal(a, b)  # random resized crop + flip while training
    e = ds.eval()
    assert torch.equal(e[0][0], e[0][0])  # resize + centre crop to evaluate
    (tmp_path / "val" / "fox").rename(tmp_path / "val" / "owl")
    with pytest.raises(ValueError, match="different class folders"):
        make_benchmark("imagenet-subset", "b0-2", seed=0, data_root=tmp_path)


def test_data_root_with_wrong_layout(tmp_path):
    (tmp_path / "cifar100").mkdir()  # a folder, but not the expected files
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        make_benchmark("split-cifar100", "b50-5", seed=0, data_root=tmp_path)
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        make_benchmark("split-mnist", "b0-5", seed=0, data_root=tmp_path)


class _HybridRule:
    """What FeatureAdaptationStrategy's hybrid memory accepts, from the API's
    own rules (nothing hard-coded): the bytes of one stored image as the
    memory metric counts them (measured once on a real run), the bytes of one
    stored feature (``FeatureBuffer.bytes_per_sample``), and the strategy's
    split ``n_images = int(fraction * budget) // image_bytes``, the rest for
    features. A budget is accepted when it holds an image and at least one
    feature per class seen."""

    def __init__(self):
        from avalanche_featadapt import FeatureAdaptationStrategy

        bm = SplitDigits(5, seed=0)
        m = make_digits_model()
        budget = 1_000_000
        s = FeatureAdaptationStrategy(
            model=m,
            optimizer=torch.optim.SGD(m.parameters(), lr=0.01),
            memory_bytes=budget,
            image_fraction=0.5,
            train_epochs=1,
            head_epochs=1,
            evaluator=make_evaluator(),
        )
        s.train(bm.train_stream[0])
        images = len(s.image_memory.storage_policy.buffer)
        self.image_bytes = (memory_bytes_of(s) - s.buffer.nbytes) // images
        self.feature_dim = s.buffer.feature_dim

    def feature_bytes(self, dtype):
        from avalanche_featadapt import FeatureBuffer

        probe = FeatureBuffer(memory_bytes=1, feature_dtype=dtype)
        return probe.bytes_per_sample(self.feature_dim)

    def n_images(self, budget, fraction):
        return int(fraction * budget) // self.image_bytes

    def capacity(self, budget, fraction, dtype):
        left = budget - self.n_images(budget, fraction) * self.image_bytes
        return left // self.feature_bytes(dtype)

    def accepts(self, budget, fraction, dtype, classes):
        ok_images = self.n_images(budget, fraction) >= 1
        return ok_images and self.capacity(budget, fraction, dtype) >= classes

    def smallest_budget(self, fraction, dtype, classes):
        """Every budget from here up is accepted: it gives the images at
        least fraction * budget >= one image and the features at least
        (1 - fraction) * budget >= one feature per class (+1 for rounding)."""
        return 1 + max(
            math.ceil(self.image_bytes / fraction),
            math.ceil(classes * self.feature_bytes(dtype) / (1 - fraction)),
        )


@functools.lru_cache(maxsize=1)
def hybrid_rule():
    return _HybridRule()


CLASSES_AFTER_3 = 6  # SplitDigits(5): two classes per experience


@settings(max_examples=6, deadline=None)
@given(
    fraction=st.floats(0.1, 0.9),
    dtype=st.sampled_from(["float32", "float16", "int8", "int4"]),
    extra=st.integers(0, 50_000),
)
@pytest.mark.slow
def test_hybrid_memory_never_exceeds_its_budget(fraction, dtype, extra):
    """Only budgets the API accepts are drawn (the refusals are tested
    below)."""
    from avalanche_featadapt import FeatureAdaptationStrategy

    rule = hybrid_rule()
    budget = rule.smallest_budget(fraction, dtype, CLASSES_AFTER_3) + extra
    assert rule.accepts(budget, fraction, dtype, CLASSES_AFTER_3)
    bm = SplitDigits(5, seed=0)
    m = make_digits_model()
    s = FeatureAdaptationStrategy(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.01),
        memory_bytes=budget,
        image_fraction=fraction,
        feature_dtype=dtype,
        train_epochs=1,
        adapter_kwargs={"epochs": 1},
        head_epochs=1,
        evaluator=make_evaluator(),
    )
    for exp in bm.train_stream[:3]:
        s.train(exp)
        images = len(s.image_memory.storage_policy.buffer)
        assert 1 <= images <= rule.n_images(budget, fraction)
        if exp.current_experience > 0:  # the stored images gave pairs too
            assert s.adapter.history[-1]["n_pairs"] > len(exp.dataset)
        held = s.buffer.nbytes + images * rule.image_bytes
        assert memory_bytes_of(s) == held <= budget


def _hybrid_strategy(budget, fraction, dtype="float32"):
    from avalanche_featadapt import FeatureAdaptationStrategy

    m = make_digits_model()
    return FeatureAdaptationStrategy(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.01),
        memory_bytes=budget,
        image_fraction=fraction,
        feature_dtype=dtype,
        train_epochs=1,
        adapter_kwargs={"epochs": 1},
        head_epochs=1,
        evaluator=make_evaluator(),
    )


def test_hybrid_budget_too_small_for_the_classes_is_refused_clearly(digits):
    rule = hybrid_rule()
    fraction = 0.5
    # the smallest budget whose features hold the first experience's two
    # classes but not the four seen after the second
    budget = next(
        b
        for b in range(1, 10**6)
        if rule.accepts(b, fraction, "float32", 2)
        and not rule.accepts(b, fraction, "float32", 4)
    )
    s = _hybrid_strategy(budget, fraction)
    s.train(digits.train_stream[0])
    with pytest.raises(ValueError, match="fewer than the 4 classes seen"):
        s.train(digits.train_stream[1])


def test_hybrid_budget_without_room_for_one_image_is_refused_clearly(digits):
    rule = hybrid_rule()
    fraction = 0.1
    budget = rule.image_bytes * 10 - 1  # 10 % of it is one byte short of an image
    assert rule.n_images(budget, fraction) == 0
    s = _hybrid_strategy(budget, fraction)
    with pytest.raises(ValueError, match="holds no image"):
        s.train(digits.train_stream[0])


def test_each_record_says_how_it_is_built():
    import inspect

    from avalanche_featadapt.compare.builders import Builder

    for name, spec in STRATEGIES.items():
        assert isinstance(spec.builder, Builder), name
        cls = spec.builder.constructor_class()
        params = inspect.signature(cls).parameters if cls else {}
        assert set(spec.hyperparameters) <= set(params), name
        assert spec.drift == bool(spec.builder.drift)
    assert STRATEGIES["featadapt-hybrid"].builder.holds(
        STRATEGIES["featadapt-hybrid"].hyperparameters
    ) == ("images + features")
    with pytest.raises(ValueError, match="plugins= is taken by naive, lwf, replay"):
        build_strategy("sdc", plugins=[object()], **{k: None for k in _KW})


_KW = ("model_factory", "benchmark", "memory_bytes", "epochs", "lr")
_KW += ("batch_size", "device", "evaluator")

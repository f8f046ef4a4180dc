import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from avalanche_featadapt import FeatureBuffer

#: bytes of one stored d-dimensional feature, written out by hand
PER_SAMPLE = {
    "float32": lambda d: 4 * d,
    "float16": lambda d: 2 * d,
    "int8": lambda d: d + 4,  # codes + a float32 scale
    "int4": lambda d: (d + 1) // 2 + 8,  # two codes a byte + offset and step
}


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from(["float32", "float16", "int8", "int4"]),
    d=st.integers(1, 16),
    memory_bytes=st.one_of(st.none(), st.integers(200, 5000)),
    mem_size=st.one_of(st.none(), st.integers(20, 200)),
    experiences=st.lists(
        st.lists(st.integers(1, 30), min_size=1, max_size=3), min_size=1, max_size=5
    ),
    seed=st.integers(0, 1000),
)
def test_budget_never_exceeded(dtype, d, memory_bytes, mem_size, experiences, seed):
    if memory_bytes is None and mem_size is None:
        mem_size = 50
    buf = FeatureBuffer(
        memory_bytes=memory_bytes, mem_size=mem_size, feature_dtype=dtype
    )
    per_sample = PER_SAMPLE[dtype](d)
    g = torch.Generator().manual_seed(seed)
    next_class = 0
    n_seen = {}
    # Only what the buffer accepts: at most one class per feature it holds
    # (the refusal is test_budget_too_small_for_classes).
    capacity = buf.capacity(d)
    for counts in experiences:
        counts = counts[: capacity - next_class]
        if not counts:
            break
        labels = torch.cat(
            [torch.full((n,), next_class + i) for i, n in enumerate(counts)]
        )
        feats = torch.randn(len(labels), d, generator=g)
        buf.add(feats, labels)
        n_seen.update({next_class + i: n for i, n in enumerate(counts)})
        next_class += len(counts)
        # independent count of what is held
        held = sum(t.numel() * t.element_size() for t in buf.stored_tensors())
        assert buf.nbytes == held == len(buf) * per_sample
        if memory_bytes is not None:
            assert buf.nbytes <= memory_bytes
        if mem_size is not None:
            assert len(buf) <= mem_size
        # class-balanced: class i holds min(its share, what it brought); the
        # share is the capacity split evenly, the remainder to the first classes
        caps = [c for c in (mem_size,) if c is not None]
        if memory_bytes is not None:
            caps.append(memory_bytes // per_sample)
        q, extra = divmod(min(caps), len(buf.classes))
        for i, c in enumerate(buf.classes):
            share = q + (i < extra)
            assert buf.features_of(c).shape[0] == min(share, n_seen[c])


def test_balanced_shares_and_prefix_shrink():
    buf = FeatureBuffer(mem_size=12)
    x1 = torch.randn(40, 8)
    buf.add(x1, torch.tensor([0] * 20 + [1] * 20))
    first = buf.features_of(0).clone()
    assert [buf.features_of(c).shape[0] for c in buf.classes] == [6, 6]
    buf.add(torch.randn(40, 8), torch.tensor([2] * 20 + [3] * 20))
    assert [buf.features_of(c).shape[0] for c in buf.classes] == [3, 3, 3, 3]
    assert torch.equal(buf.features_of(0), first[:3])  # herding order: a prefix


def test_float16_and_int8_round_trip():
    x = torch.randn(30, 16)
    y = torch.zeros(30, dtype=torch.long)
    for dtype, tol in (("float16", 1e-2), ("int8", 3e-2)):
        buf = FeatureBuffer(mem_size=30, feature_dtype=dtype)
        buf.add(x, y)
        f, _ = buf.features()
        # every stored row is close to some input row
        err = torch.cdist(f, x).min(1).values / x.norm(dim=1).mean()
        assert err.max() < tol, dtype


def test_int4_codes_by_hand():
    # offset -1, step (2 - -1) / 15 = 0.2 per level: the values are exact
    # levels 0, 15, 5, 10, 8 and decode exactly; 0.45 rounds to level 7 (0.4)
    x = torch.tensor([[-1.0, 2.0, 0.0, 1.0, 0.6], [-1.0, 2.0, 0.45, 1.0, 0.6]])
    buf = FeatureBuffer(mem_size=2, feature_dtype="int4")
    buf.add(x, torch.tensor([0, 0]))
    stored = buf.stored_tensors()
    # 5 codes in 3 bytes (one nibble of padding), 2 float32 scales per row
    assert [t.nbytes for t in stored] == [2 * 3, 2 * 8] and buf.nbytes == 22
    assert buf.nbytes == 2 * buf.bytes_per_sample()
    assert stored[0][0].tolist() == [0 | 15 << 4, 5 | 10 << 4, 8]
    f = buf.features_of(0)
    expect = torch.tensor([[-1.0, 2.0, 0.0, 1.0, 0.6], [-1.0, 2.0, 0.4, 1.0, 0.6]])
    assert torch.allclose(f[torch.argsort(f[:, 2])], expect, atol=1e-6)


def test_int4_holds_more_features_than_int8_within_half_a_level():
    x = torch.rand(400, 64) * 3  # non-negative, as after a ReLU
    y = torch.arange(400) % 4
    for dtype, n in (("int8", 51_200 // 68), ("int4", 51_200 // 40)):
        buf = FeatureBuffer(memory_bytes=51_200, feature_dtype=dtype)
        buf.add(x.repeat(4, 1), y.repeat(4))
        assert len(buf) == n and buf.nbytes <= 51_200, dtype
    f, _ = buf.features()
    # every int4 value is within half a level (range / 30) of an input row
    err = torch.cdist(f, x, p=float("inf")).min(1).values
    assert err.max() <= 3 / 30 + 1e-6


def test_transform_maps_selected_classes_only():
    buf = FeatureBuffer(mem_size=10)
    buf.add(torch.randn(10, 4), torch.tensor([0] * 5 + [1] * 5))
    before0, before1 = buf.features_of(0).clone(), buf.features_of(1).clone()
    buf.transform(lambda f: 2 * f + 1, classes=[0])
    assert torch.allclose(buf.features_of(0), 2 * before0 + 1)
    assert torch.equal(buf.features_of(1), before1)


def test_nan_is_refused_and_nothing_lost():
    buf = FeatureBuffer(mem_size=10)
    buf.add(torch.randn(10, 4), torch.tensor([0] * 5 + [1] * 5))
    snapshot = buf.features()[0].clone()
    bad = torch.randn(6, 4)
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match="NaN or inf"):
        buf.add(bad, torch.tensor([2] * 6))
    with pytest.raises(ValueError, match="NaN or inf"):
        buf.transform(lambda f: f * float("nan"))
    assert buf.classes == [0, 1]
    assert torch.equal(buf.features()[0], snapshot)


def test_budget_too_small_for_classes():
    buf = FeatureBuffer(
        memory_bytes=40, feature_dtype="float32"
    )  # 2 features of 4 floats
    buf.add(torch.randn(4, 4), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="fewer than the 3 classes"):
        buf.add(torch.randn(2, 4), torch.tensor([2, 2]))
    assert buf.classes == [0, 1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "needs a budget"),
        ({"memory_bytes": 0}, "memory_bytes must be a positive integer"),
        ({"memory_bytes": -5}, "memory_bytes must be a positive integer"),
        ({"mem_size": 0}, "mem_size must be a positive integer"),
        ({"mem_size": 10, "feature_dtype": "bfloat16"}, "Unknown storage dtype"),
        ({"mem_size": 10, "selector": 3}, "selector must be callable"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureBuffer(**kwargs)


def test_update_is_all_or_nothing_when_the_budget_refuses():
    buf = FeatureBuffer(
        memory_bytes=40, feature_dtype="float32"
    )  # 2 features of 4 floats
    buf.add(torch.randn(4, 4), torch.tensor([0, 0, 1, 1]))
    before = buf.features()[0].clone()
    calls = []

    def phi(f):
        calls.append(1)
        return f + 1

    with pytest.raises(ValueError, match="fewer than the 3 classes"):
        buf.update(torch.randn(2, 4), torch.tensor([2, 2]), transform=phi)
    assert calls == []  # the budget was checked before anything was moved
    assert buf.classes == [0, 1] and torch.equal(buf.features()[0], before)


def test_update_moves_old_and_adds_new_together():
    buf = FeatureBuffer(mem_size=8)
    buf.add(torch.randn(8, 4), torch.tensor([0] * 4 + [1] * 4))
    old = buf.features_of(0).clone()
    new = torch.randn(4, 4)
    buf.update(
        new, torch.tensor([2] * 4), transform=lambda f: 2 * f, transform_classes=[0]
    )
    # 3 classes share 8 slots: 3, 3, 2; class 0 was moved, then shrunk
    assert [buf.features_of(c).shape[0] for c in buf.classes] == [3, 3, 2]
    assert torch.allclose(buf.features_of(0), 2 * old[:3])
    bad = torch.randn(4, 4)
    bad[1, 1] = float("nan")
    snapshot = buf.features()[0].clone()
    with pytest.raises(ValueError, match="NaN or inf"):  # new features refused
        buf.update(bad, torch.tensor([3] * 4), transform=lambda f: 3 * f)
    assert torch.equal(buf.features()[0], snapshot) and buf.classes == [0, 1, 2]


def test_float16_overflow_is_refused_clearly():
    buf = FeatureBuffer(mem_size=10, feature_dtype="float16")
    buf.add(torch.randn(4, 4), torch.tensor([0] * 4))
    snapshot = buf.features()[0].clone()
    big = torch.randn(4, 4)
    big[0, 0] = 70_000.0
    with pytest.raises(ValueError, match="65504.*dtype='int8'"):
        buf.add(big, torch.tensor([1] * 4))
    with pytest.raises(ValueError, match="65504"):
        buf.transform(lambda f: f * 1e6)
    assert torch.equal(buf.features()[0], snapshot)
    assert torch.isfinite(buf.features()[0]).all()


def test_int4_refuses_rows_it_would_store_as_nan():
    """A row spanning -3e38..3e38: int4's step (max - min) / 15 overflows
    float32, and the row was stored as NaN. Refused like float16's overflow;
    a row spanning less than float32's range is stored as before."""
    buf = FeatureBuffer(mem_size=10, feature_dtype="int4")
    buf.add(torch.randn(4, 4), torch.tensor([0] * 4))
    snapshot = buf.features()[0].clone()
    wide = torch.randn(4, 4)
    wide[0, :2] = torch.tensor([-3e38, 3e38])
    with pytest.raises(ValueError, match="int4.*overflows float32.*'int8'"):
        buf.add(wide, torch.tensor([1] * 4))
    with pytest.raises(ValueError, match="int4.*overflows"):
        buf.transform(lambda f: f.sign() * 3e38)
    assert buf.classes == [0] and torch.equal(buf.features()[0], snapshot)
    wide[0, :2] = torch.tensor([-1e38, 1e38])
    buf.add(wide, torch.tensor([1] * 4))
    assert torch.isfinite(buf.features()[0]).all()


@pytest.mark.parametrize(
    "labels, match",
    [
        ([0.0, 1.5, 1.0, 0.0], r"float32 \(e.g. 1.5\).*y.long\(\)"),
        ([0.0, 1.0, 1.0, 0.0], r"float32; class labels must be integers"),
        ([-1, 0, 0, 1], "class id -1"),
        ([0, 10**9, 0, 1], "class id 1000000000"),
    ],
)
def test_add_refuses_labels_that_are_not_class_ids(labels, match):
    """Float labels were truncated (1.5 stored as class 1); -1 and 10**9
    were stored as classes."""
    buf = FeatureBuffer(mem_size=10)
    buf.add(torch.randn(4, 4), torch.tensor([0, 0, 1, 1]))
    snapshot = buf.features()[0].clone()
    with pytest.raises(ValueError, match=match):
        buf.add(torch.randn(4, 4), torch.tensor(labels))
    assert buf.classes == [0, 1] and torch.equal(buf.features()[0], snapshot)

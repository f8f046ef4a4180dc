"""Bad input and faults get a clear error that says what to pass instead,
and nothing is lost: the strategy, its memory and its weights are as they
were."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

from avalanche_featadapt import FeatureAdaptationStrategy, make_digits_model
from avalanche_featadapt.features import cached_names
from helpers import make_evaluator


def _fa(**kw):
    m = make_digits_model()
    kw.setdefault("memory_bytes", 51_200)
    kw.setdefault("model", m)
    kw.setdefault("train_epochs", 1)
    kw.setdefault("head_epochs", 2)
    kw.setdefault("adapter_kwargs", {"epochs": 2})
    return FeatureAdaptationStrategy(
        optimizer=torch.optim.SGD(m.parameters(), lr=0.05),
        evaluator=make_evaluator(),
        **kw,
    )


def _digits_benchmark(poison=None, nan_test=False):
    """SplitDigits-like 5x2 benchmark from tensors; ``poison`` = (class,
    value) puts that value into one pixel of the first image of the class;
    ``nan_test`` makes every test image NaN."""
    from avalanche.benchmarks import nc_benchmark

    d = load_digits()
    x = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    if poison is not None:
        c, value = poison
        x[(y == c).nonzero()[0, 0], 0, 3, 3] = value
    ds = TensorDataset(x, y)
    ds.targets = y.tolist()
    test = TensorDataset(torch.full_like(x, float("nan")), y) if nan_test else ds
    test.targets = y.tolist()
    return nc_benchmark(
        ds,
        test,
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
    # two 256-byte float32 features: not enough for 4 classes
    s = _fa(memory_bytes=700, feature_dtype="float32")
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


def test_nan_evaluation_images_are_refused_not_scored():
    """All-NaN test images of two classes scored 50 %: NaN logits, an
    arbitrary predicted class, and no word."""
    bm = _digits_benchmark(nan_test=True)
    s = _fa()
    s.train(bm.train_stream[0])
    with pytest.raises(ValueError, match="evaluation image.*of experience 0.*NaN"):
        s.eval(bm.test_stream[:1])


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


# ------------------------------------------ item 6: arguments at construction
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"lambda_kd": float("nan")},
            "lambda_kd must be a number >= 0.*NaN and inf are refused",
        ),
        ({"lambda_fd": float("inf")}, "lambda_fd must be a number >= 0.*NaN and inf"),
        ({"lambda_kd": -1.0}, "lambda_kd must be a number >= 0"),
        (
            {"temperature": float("nan")},
            "temperature must be a positive number.*NaN and inf",
        ),
        ({"feature_extractor": "fe", "model": None}, "feature_extractor must be a"),
        (
            {
                "model": None,
                "feature_extractor": torch.nn.Linear(64, 8),
                "classifier": "head",
            },
            "classifier must be a torch.nn.Module",
        ),
        ({"adapter_kwargs": {"residual": "no"}}, "residual'\\] must be True or"),
        ({"adapter_kwargs": "fast"}, "adapter_kwargs must be a dict"),
        ({"plugins": "x"}, "plugins must be a list of Avalanche plugins"),
        ({"plugins": ["x"]}, r"plugins\[0\] is a str, not an Avalanche plugin"),
        ({"head_epochs": 0}, "head_epochs must be a positive integer"),
        ({"head_lr": 0.0}, "head_lr must be a positive"),
        ({"train_epochs": 0}, "train_epochs must be a positive integer"),
        ({"train_epochs": -1}, "train_epochs must be a positive integer"),
        ({"train_epochs": 1.5}, "train_epochs must be a positive integer"),
        ({"train_mb_size": 0}, "train_mb_size must be a positive integer"),
        ({"eval_mb_size": 0}, "eval_mb_size must be a positive integer"),
        ({"adapt": "yes"}, "adapt must be True or False"),
        ({"freeze_bn": 1}, "freeze_bn must be True or False"),
        (
            {"memory_bytes": float("inf")},
            "memory_bytes must be a positive integer.*NaN and inf",
        ),
    ],
)
def test_every_argument_is_checked_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _fa(**kwargs)


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: __import__("avalanche_featadapt").SDCPlugin(sigma=float("inf")),
            "sigma must be a positive number.*NaN and inf",
        ),
        (
            lambda: __import__("avalanche_featadapt").AdapterTrainer(
                buffer=__import__("avalanche_featadapt").FeatureBuffer(mem_size=4),
                residual="no",
            ),
            "residual must be True or False",
        ),
        (
            lambda: __import__("avalanche_featadapt").DistillationRegularizer(
                lambda_kd=float("nan")
            ),
            "lambda_kd must be a number >= 0.*NaN and inf are refused",
        ),
        (
            lambda: __import__("avalanche_featadapt").ClassifierRetrainer(
                buffer=__import__("avalanche_featadapt").FeatureBuffer(mem_size=4),
                lr=float("inf"),
            ),
            "lr must be a positive number.*NaN and inf",
        ),
    ],
)
def test_plugins_alone_check_their_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _benchmark_with_labels(y):
    from avalanche.benchmarks import benchmark_from_datasets
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset

    x = torch.rand(len(y), 1, 8, 8)
    ds = _make_taskaware_tensor_classification_dataset(x, torch.as_tensor(y))
    return benchmark_from_datasets(train=[ds], test=[ds])


def test_float_labels_are_refused_not_truncated():
    bm = _benchmark_with_labels([0.0, 1.5, 2.0, 1.0])
    s = _fa()
    with pytest.raises(ValueError, match=r"float labels \(e.g. 1.5\).*y.long\(\)"):
        s.train(bm.train_stream[0])


def test_a_huge_class_id_is_refused_before_the_head_grows():
    bm = _benchmark_with_labels([0, 1, 5_000_000, 1])
    s = _fa()
    width = s.model.classifier.classifier.out_features
    with pytest.raises(ValueError, match="class id 5000000.*Remap the labels"):
        s.train(bm.train_stream[0])
    assert s.model.classifier.classifier.out_features == width


# ------------------------------------- caches, composition, new APIs
def _naive(plugins, model=None):
    from avalanche.training import Naive

    m = model if model is not None else make_digits_model()
    return Naive(
        model=m,
        optimizer=torch.optim.SGD(m.parameters(), lr=0.05),
        criterion=torch.nn.CrossEntropyLoss(),
        train_mb_size=32,
        eval_mb_size=256,
        plugins=plugins,
        evaluator=make_evaluator(),
    )


def test_plugins_leave_no_cache_on_the_strategy(digits):
    from avalanche_featadapt import (
        AdapterTrainer,
        DistillationRegularizer,
        FeatureBuffer,
    )

    s = _naive([DistillationRegularizer()])
    buffer = FeatureBuffer(mem_size=40)
    t = _naive([AdapterTrainer(buffer=buffer, epochs=2), buffer])
    for strategy in (s, t):
        for exp in digits.train_stream[:2]:
            strategy.train(exp)
            assert not {"teachers", "features"} & set(cached_names(strategy))
    assert len(t.plugins[0].adapters) == 1  # the caches were used, then dropped


def test_an_adapter_without_its_buffer_is_refused(digits):
    from avalanche_featadapt import AdapterTrainer, FeatureBuffer

    buffer = FeatureBuffer(mem_size=40)
    s = _naive([AdapterTrainer(buffer=buffer)])
    with pytest.raises(ValueError, match="not among the strategy's plugins.*Pass both"):
        s.train(digits.train_stream[0])


@pytest.mark.parametrize("who", ["adapter", "retrainer"])
def test_plugins_in_the_wrong_order_are_refused(who, digits):
    from avalanche_featadapt import AdapterTrainer, ClassifierRetrainer, FeatureBuffer

    buffer = FeatureBuffer(mem_size=40)
    if who == "adapter":
        plugins = [buffer, AdapterTrainer(buffer=buffer)]
        match = r"AdapterTrainer is at plugins\[1\].*must come after it"
    else:
        plugins = [ClassifierRetrainer(buffer=buffer), buffer]
        match = r"ClassifierRetrainer is at plugins\[0\].*must come before it"
    s = _naive(plugins)
    with pytest.raises(ValueError, match=match):
        s.train(digits.train_stream[0])
    assert buffer.classes == []


def _stream_without_timeline():
    from avalanche.benchmarks import benchmark_from_datasets
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset

    d = load_digits()
    x = torch.tensor(d.images[:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    parts = [(y == a) | (y == a + 1) for a in (0, 2)]
    ds = [_make_taskaware_tensor_classification_dataset(x[m], y[m]) for m in parts]
    return benchmark_from_datasets(train=ds, test=ds)


def test_a_stream_without_classes_timeline_is_refused_by_the_strategy():
    bm = _stream_without_timeline()
    assert not hasattr(bm.train_stream[0], "classes_in_this_experience")
    with pytest.raises(ValueError, match="with_classes_timeline"):
        _fa().train(bm.train_stream[0])


def test_plugins_read_the_classes_from_the_targets_without_a_timeline():
    from avalanche_featadapt import (
        AdapterTrainer,
        ClassifierRetrainer,
        DistillationRegularizer,
        FeatureBuffer,
    )
    from avalanche_featadapt.models import DigitsCNN, FeatureClassifierModel

    bm = _stream_without_timeline()
    buffer = FeatureBuffer(mem_size=40)
    kd = DistillationRegularizer()
    model = FeatureClassifierModel(DigitsCNN(), torch.nn.Linear(64, 10))
    s = _naive(
        [
            kd,
            AdapterTrainer(buffer=buffer, epochs=2),
            buffer,
            ClassifierRetrainer(buffer=buffer, epochs=2),
        ],
        model=model,
    )
    for exp in bm.train_stream:
        s.train(exp)
    assert kd.seen_classes == [0, 1, 2, 3]
    assert buffer.classes == [0, 1, 2, 3]


def test_sdc_plugin_alone_leaves_no_cache(digits):
    from avalanche_featadapt import SDCPlugin

    s = _naive([SDCPlugin()])
    for exp in digits.train_stream[:2]:
        s.train(exp)
        assert not {"teachers", "features"} & set(cached_names(s))
    assert len(s.plugins[0].prototypes) == 4


@pytest.mark.parametrize("who", ["replay", "adversarial"])
def test_buffer_readers_without_their_buffer_are_refused(who, digits):
    """StoredFeatureReplay and AdversarialDistillation read the buffer before
    each experience; without it among the plugins it stayed empty and they
    added nothing, silently. On either side of them it is accepted."""
    from avalanche_featadapt import (
        AdversarialDistillation,
        FeatureBuffer,
        StoredFeatureReplay,
    )

    make = StoredFeatureReplay if who == "replay" else AdversarialDistillation
    buffer = FeatureBuffer(mem_size=40)
    s = _naive([make(buffer=buffer)])
    with pytest.raises(ValueError, match="not among the strategy's plugins.*Pass"):
        s.train(digits.train_stream[0])
    for order in ("before", "after"):
        buffer = FeatureBuffer(mem_size=40)
        plugin = make(buffer=buffer)
        s = _naive([buffer, plugin] if order == "before" else [plugin, buffer])
        s.train(digits.train_stream[0])
        assert buffer.classes == digits.train_stream[0].classes_in_this_experience


class _FeatureMap(torch.nn.Module):  # a backbone without pooling: (N, 4, 6, 6)
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.conv(x)


def test_a_feature_map_gets_the_2d_message_at_the_first_iteration(digits):
    """A backbone returning (N, C, H, W), with a head that flattens: the
    auxiliary cosine head raised a raw shape error."""
    fe = _FeatureMap()
    head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 10))
    s = _fa(model=None, feature_extractor=fe, classifier=head)
    with pytest.raises(ValueError, match=r"must be 2-D \(n, d\), got \(32, 4, 6, 6\)"):
        s.train(digits.train_stream[0])
    assert s.clock.train_iterations == 0


@pytest.mark.parametrize("train_head", ["auxiliary", "model"])
def test_a_float64_model_is_refused_clearly(train_head, digits):
    """model.double() met the float32 cosine head (or, with the user's
    head, the float32 stored features) with a raw dtype error."""
    model = make_digits_model().double()
    match = r"works in float32.*is float64\. Pass model.float\(\)"
    if train_head == "auxiliary":  # refused at construction
        with pytest.raises(ValueError, match=match):
            _fa(model=model)
        return
    s = _fa(model=model, train_head="model")
    with pytest.raises(ValueError, match=match):
        s.train(digits.train_stream[0])
    assert s.clock.train_iterations == 0

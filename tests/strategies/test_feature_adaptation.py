import pytest
import torch
from avalanche.training import Naive
from torch import nn

from avalanche_featadapt import (
    AdapterTrainer,
    ClassifierRetrainer,
    DistillationRegularizer,
    FeatureAdaptationStrategy,
    FeatureBuffer,
    SplitDigits,
    make_digits_model,
)
from helpers import make_evaluator, stream_accuracy


def run_naive_with(plugins, digits, evaluator, n_exp=2):
    model = make_digits_model()
    naive = Naive(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        train_mb_size=64,
        train_epochs=1,
        eval_mb_size=256,
        plugins=plugins,
        evaluator=evaluator,
    )
    for exp in digits.train_stream[:n_exp]:
        naive.train(exp)
        res = naive.eval(digits.test_stream[:n_exp])
    return naive, res


def test_feature_buffer_alone_on_naive(digits, evaluator):
    buf = FeatureBuffer(memory_bytes=51200)
    run_naive_with([buf], digits, evaluator)
    assert sorted(buf.classes) == sorted(
        digits.classes_order[:4]
    ), "stores the classes of both experiences"
    assert buf.nbytes == 51200  # 200 float32 64-d features fill it exactly


def test_adapter_trainer_alone_on_naive(digits, evaluator):
    buf = FeatureBuffer(mem_size=100)
    adapter = AdapterTrainer(buffer=buf, epochs=3)
    run_naive_with([adapter, buf], digits, evaluator)
    assert len(adapter.history) == 1 and adapter.history[0]["experience"] == 1
    assert 0 < adapter.history[0]["holdout_cosine"] <= 1


def test_distillation_alone_on_naive(digits, evaluator):
    reg = DistillationRegularizer(
        lambda_at=0.5, attention_layer="feature_extractor.body.7"
    )
    naive, res = run_naive_with([reg], digits, evaluator)
    assert set(reg.last_terms) == {"kd", "fd", "at"}
    assert all(v >= 0 for v in reg.last_terms.values())
    assert "Top1_Acc_Stream/eval_phase/test_stream/Task000" in res


def test_classifier_retrainer_alone_on_naive(digits, evaluator):
    buf = FeatureBuffer(mem_size=200)
    retrainer = ClassifierRetrainer(buffer=buf, epochs=5)
    naive, res = run_naive_with([buf, retrainer], digits, evaluator)
    # the head now fits the balanced buffer, every class of it, old ones too
    # (without adaptation the old features are stale, so this is all that the
    # retrainer alone can promise)
    feats, labels = buf.features()
    with torch.no_grad():
        pred = naive.model.classifier(feats).argmax(1)
    for c in buf.classes:
        assert (pred[labels == c] == c).float().mean() > 0.8, c
    assert len(buf.classes) == 4


def test_fa_in_a_plain_avalanche_loop_logs_metrics(digits, tmp_path):
    evaluator = make_evaluator(tmp_path)
    model = make_digits_model()
    strategy = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=3e-4),
        memory_bytes=51200,
        train_mb_size=32,
        train_epochs=2,
        evaluator=evaluator,
        adapter_kwargs={"epochs": 5},
        head_epochs=5,
    )
    for exp in digits.train_stream[:2]:
        strategy.train(exp)
        strategy.eval(digits.test_stream)
    metrics = evaluator.get_all_metrics()
    assert "Top1_Acc_Stream/eval_phase/test_stream/Task000" in metrics
    assert any(k.startswith("StreamForgetting") for k in metrics)
    csv = (tmp_path / "csv" / "eval_results.csv").read_text()
    assert len(csv.splitlines()) > 5
    assert strategy.buffer.nbytes <= 51200
    assert len(strategy.adapter.history) == 1


def _run(strategy, digits):
    for i, exp in enumerate(digits.train_stream):
        strategy.train(exp)
    return stream_accuracy(strategy.eval(digits.test_stream))


@pytest.mark.slow
def test_fa_beats_naive_by_30_points():
    digits = SplitDigits(5, seed=0)
    torch.manual_seed(0)
    model = make_digits_model()
    fa = FeatureAdaptationStrategy(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=3e-4),
        memory_bytes=51200,
        train_mb_size=32,
        train_epochs=10,
        evaluator=make_evaluator(),
    )
    torch.manual_seed(0)
    model = make_digits_model()
    naive = Naive(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=3e-4),
        train_mb_size=32,
        train_epochs=10,
        eval_mb_size=256,
        evaluator=make_evaluator(),
    )
    acc_fa, acc_naive = _run(fa, digits), _run(naive, digits)
    assert acc_fa >= acc_naive + 0.30, (acc_fa, acc_naive)


# ---------------------------------------------------------------- bad input
class Unsplittable(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def _opt(m):
    return torch.optim.SGD(m.parameters(), lr=0.1)


def test_unsplittable_model_names_what_to_pass():
    m = Unsplittable()
    with pytest.raises(ValueError, match="Pass last_layer_name="):
        FeatureAdaptationStrategy(model=m, optimizer=_opt(m), memory_bytes=1000)
    with pytest.raises(ValueError, match="has no layer named 'head'"):
        FeatureAdaptationStrategy(
            model=m, optimizer=_opt(m), memory_bytes=1000, last_layer_name="head"
        )


def test_last_layer_name_splits_the_model():
    m = Unsplittable()
    s = FeatureAdaptationStrategy(
        model=m, optimizer=_opt(m), memory_bytes=1000, last_layer_name="net.1"
    )
    assert isinstance(s.model.classifier, nn.Linear)
    assert s.model.feature_extractor(torch.zeros(2, 1, 8, 8)).shape == (2, 64)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "needs a memory budget"),
        ({"memory_bytes": 0}, "memory_bytes must be a positive integer"),
        ({"memory_bytes": -100}, "memory_bytes must be a positive integer"),
        ({"mem_size": 0}, "mem_size must be a positive integer"),
        ({"memory_bytes": 100, "feature_dtype": "float8"}, "Unknown storage dtype"),
    ],
)
def test_bad_budgets_and_dtypes(kwargs, match):
    m = make_digits_model()
    with pytest.raises(ValueError, match=match):
        FeatureAdaptationStrategy(model=m, optimizer=_opt(m), **kwargs)


def test_stream_with_task_labels_is_refused():
    from avalanche.benchmarks import nc_benchmark
    from avalanche_featadapt.benchmarks import digits_tensors
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as make_ds,
    )

    xtr, ytr, xte, yte = digits_tensors()
    bm = nc_benchmark(make_ds(xtr, ytr), make_ds(xte, yte), 5, task_labels=True, seed=0)
    m = make_digits_model()
    s = FeatureAdaptationStrategy(
        model=m, optimizer=_opt(m), memory_bytes=10000, evaluator=make_evaluator()
    )
    s.train(bm.train_stream[0])  # task label 0 is fine
    with pytest.raises(ValueError, match="task_labels=False"):
        s.train(bm.train_stream[1])


def test_narrow_classifier_is_refused(digits):
    fe = make_digits_model().feature_extractor
    head = nn.Linear(64, 3)
    s = FeatureAdaptationStrategy(
        feature_extractor=fe,
        classifier=head,
        optimizer=torch.optim.SGD(list(fe.parameters()) + list(head.parameters()), 0.1),
        memory_bytes=10000,
        evaluator=make_evaluator(),
    )
    exp = next(e for e in digits.train_stream if max(e.classes_in_this_experience) > 2)
    with pytest.raises(ValueError, match="at least .* wide"):
        s.train(exp)


def test_unavailable_device_is_refused():
    m = make_digits_model()
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
        FeatureAdaptationStrategy(
            model=m, optimizer=_opt(m), memory_bytes=100, device="cuda"
        )
    with pytest.raises(ValueError, match="not a torch device"):
        FeatureAdaptationStrategy(
            model=m, optimizer=_opt(m), memory_bytes=100, device="gpu0"
        )


def test_empty_experience_is_refused_and_nothing_lost():
    digits = SplitDigits(5, seed=0)  # its own: one experience is emptied below
    m = make_digits_model()
    s = FeatureAdaptationStrategy(
        model=m, optimizer=_opt(m), memory_bytes=51200, evaluator=make_evaluator()
    )
    s.train(digits.train_stream[0])
    held = s.buffer.features()[0].clone()
    empty = digits.train_stream[1]
    empty.dataset = empty.dataset.subset([])
    with pytest.raises(ValueError, match="no training data"):
        s.train(empty)
    assert torch.equal(s.buffer.features()[0], held)

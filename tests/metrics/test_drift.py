import csv
from types import SimpleNamespace

import pytest
import torch
from avalanche.benchmarks.utils.classification_dataset import (
    _make_taskaware_tensor_classification_dataset as make_ds,
)
from torch import nn

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    FeatureBuffer,
    make_digits_model,
)
from avalanche_featadapt.metrics import DriftMetric, MetricsCSVLogger
from avalanche_featadapt.plugins import AdapterTrainer


class Shifted(nn.Module):
    def __init__(self, base, shift):
        super().__init__()
        self.base, self.shift = base, shift

    def forward(self, x):
        return self.base(x) + self.shift


def fake_strategy(fe, exp_id, x, y, plugins):
    return SimpleNamespace(
        model=SimpleNamespace(feature_extractor=fe),
        device="cpu",
        plugins=plugins,
        clock=SimpleNamespace(train_exp_counter=exp_id, train_iterations=exp_id),
        experience=SimpleNamespace(dataset=make_ds(x, y)),
    )


def test_metric_reports_a_known_drift():
    torch.manual_seed(0)
    fe0 = nn.Sequential(nn.Flatten(), nn.Linear(16, 8))
    shift = torch.randn(8) * 3
    fe1 = Shifted(fe0, shift)  # the backbone change: a known translation
    x0, y0 = torch.randn(30, 1, 4, 4), torch.tensor([0] * 15 + [1] * 15)
    x1, y1 = torch.randn(10, 1, 4, 4), torch.tensor([2] * 10)

    adapter = AdapterTrainer(buffer=FeatureBuffer(mem_size=10))
    half = shift / 2
    adapter.adapters.append(lambda v: v + half)  # recovers half the drift
    adapter.history.append({"experience": 1})
    metric = DriftMetric(probe_per_class=5)
    metric.before_training_exp(fake_strategy(fe0, 0, x0, y0, [adapter]))
    assert metric.after_training_exp(fake_strategy(fe0, 0, x0, y0, [adapter])) == []
    s1 = fake_strategy(fe1, 1, x1, y1, [adapter])
    metric.before_training_exp(s1)
    values = {v.name.split("/")[1]: v.value for v in metric.after_training_exp(s1)}

    with torch.no_grad():
        z_old = torch.cat([fe0(metric.x[c]) for c in (0, 1)])
    true = z_old + shift
    stale_rel = ((shift.norm()) / true.norm(dim=1)).mean().item()
    est_rel = ((half.norm()) / true.norm(dim=1)).mean().item()
    stale_cos = torch.cosine_similarity(z_old, true, dim=1).mean().item()
    assert abs(values["stale_rel_l2"] - stale_rel) < 1e-5
    assert abs(values["estimated_rel_l2"] - est_rel) < 1e-5
    assert abs(values["stale_cosine"] - stale_cos) < 1e-5
    assert values["estimated_cosine"] > values["stale_cosine"]
    assert sorted(metric.x) == [0, 1, 2]  # the new class's probe was added


@pytest.mark.slow
def test_drift_in_evaluation_plugin_and_csv_and_fa_beats_noadapt(digits, tmp_path):
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training.plugins import EvaluationPlugin

    errors = {}
    for adapt in (True, False):
        torch.manual_seed(0)
        metric = DriftMetric(probe_per_class=20)
        logdir = tmp_path / f"adapt{adapt}"
        logger = MetricsCSVLogger(str(logdir))
        ev = EvaluationPlugin(accuracy_metrics(stream=True), metric, loggers=[logger])
        m = make_digits_model()
        s = FeatureAdaptationStrategy(
            model=m,
            optimizer=torch.optim.Adam(m.parameters(), lr=1e-4),
            memory_bytes=51200,
            train_epochs=10,
            evaluator=ev,
            adapt=adapt,
            # weight 1, the plugin's and the paper's: the claim is that
            # the adapter corrects drift where there is drift to correct.
            # The default, 20, leaves so little (relative L2 0.19 after
            # three experiences) that the adapter's own error is as large:
            # 0.193 against 0.187 here; after five, main job, 0.219
            # against 0.245, mean of 3 seeds (docs/ablations.md, "Weight 20")
            lambda_fd=1.0,
        )
        # three experiences: after the second, the distillation on ADC's
        # images leaves so little drift (relative L2 about 0.2) that the
        # adapter's own error is as large; after the third the adapter is
        # clearly better (main job, seeds 0-2: 0.25-0.29 against 0.37-0.50;
        # here 0.298 against 0.372; both with lambda_fd=1)
        for exp in digits.train_stream[:3]:
            s.train(exp)
        logger.close()
        all_metrics = ev.get_all_metrics()
        assert "Drift/estimated_rel_l2/train_phase/train_stream" in all_metrics
        rows = list(csv.DictReader(open(logdir / "metrics.csv")))
        assert any(r["name"].startswith("Drift/estimated_cosine") for r in rows)
        errors[adapt] = metric.history[-1]
    assert errors[True]["estimated_rel_l2"] < errors[False]["estimated_rel_l2"]
    assert errors[False]["estimated_rel_l2"] == errors[False]["stale_rel_l2"]

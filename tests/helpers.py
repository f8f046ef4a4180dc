"""Helpers the test files share: ``from helpers import small_fa``.

tests/conftest.py holds the fixtures; this module holds plain functions, which
a test calls with its own arguments (pytest puts tests/ on ``sys.path``
because tests/conftest.py sits there, without an ``__init__.py``)."""

import importlib.util
import io
from pathlib import Path

import torch

#: the repository's root: README.md, docs/, examples/, perf/
ROOT = Path(__file__).resolve().parent.parent


def make_evaluator(tmp_path=None):
    """An EvaluationPlugin with accuracy and forgetting and real loggers."""
    from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
    from avalanche.logging import CSVLogger, TextLogger
    from avalanche.training.plugins import EvaluationPlugin

    loggers = [TextLogger(io.StringIO())]
    if tmp_path is not None:
        loggers.append(CSVLogger(str(tmp_path / "csv")))
    return EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True),
        forgetting_metrics(experience=True, stream=True),
        loggers=loggers,
    )


def small_fa(tmp_path=None, **kw):
    """A FeatureAdaptationStrategy on the package's model with a short recipe
    (Adam 1e-3, 25,600 B, 2 adapter epochs, 5 head epochs) and
    :func:`make_evaluator`; ``kw`` overrides any argument."""
    from avalanche_featadapt import FeatureAdaptationStrategy, make_digits_model

    model = make_digits_model()
    args = dict(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        memory_bytes=25_600,
        adapter_kwargs={"epochs": 2},
        head_epochs=5,
        evaluator=make_evaluator(tmp_path),
    )
    args.update(kw)
    return FeatureAdaptationStrategy(**args)


def stream_accuracy(results: dict) -> float:
    """The stream accuracy in what ``strategy.eval`` returned."""
    return [v for k, v in results.items() if k.startswith("Top1_Acc_Stream")][0]


def synthetic_rows(final, seeds=(0,)):
    """results.csv rows made by hand: final[strategy][budget] = final accuracy
    (one experience after a first one at 1.0)."""
    rows = []
    for name, by_budget in final.items():
        for b, acc in by_budget.items():
            for s in seeds:
                for i, a in enumerate((1.0, acc)):
                    rows.append(
                        dict(
                            strategy=name,
                            seed=s,
                            memory_bytes=b,
                            experience=i,
                            classes_seen=2 * (i + 1),
                            accuracy=a,
                            new_accuracy=a,
                            old_accuracy=a,
                            forgetting=0.0,
                            held_bytes=b // 2,
                            wall_time_s=1.0,
                            drift_estimated_rel_l2=0.3 + i,
                            drift_stale_rel_l2=(
                                0.5 if name != "featadapt-noadapt" else 0.3
                            )
                            + i,
                            drift_estimated_cosine=0.9,
                            drift_stale_cosine=0.8,
                        )
                    )
    return rows


def load_perf_script(name: str):
    """perf/``name``.py as a module, loaded from its file (perf/ holds scripts,
    not a package): the tests reuse a perf script's model without running it."""
    path = ROOT / "perf" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"perf_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

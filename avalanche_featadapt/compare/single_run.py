"""One run of the comparison: one strategy, one seed, one memory budget,
trained experience by experience and evaluated after each, one row per
experience (docs/comparison.md)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from .base_model import BaseModelCache, BaseModelKey
from .build import build_strategy
from .registry import STRATEGIES
from .results import DRIFT_KEYS, drift_field

__all__ = ["evaluator", "run_one"]


def evaluator(log_dir: Optional[Path], drift=None):
    """Accuracy, forgetting, MemoryBytes (and DriftMetric) for one run."""
    from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
    from avalanche.training.plugins import EvaluationPlugin

    from ..metrics import MemoryBytes, MetricsCSVLogger

    loggers = [MetricsCSVLogger(str(log_dir))] if log_dir is not None else []
    extra = [drift] if drift is not None else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return EvaluationPlugin(
            accuracy_metrics(experience=True, stream=True),
            forgetting_metrics(experience=True, stream=True),
            MemoryBytes(),
            *extra,
            loggers=loggers,
        )


def _row(res: Dict, benchmark, i: int) -> Dict:
    """Accuracies of experience i from what the EvaluationPlugin reported."""
    sizes = [len(e.dataset) for e in benchmark.test_stream[: i + 1]]
    exp_acc = [
        res[f"Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp{j:03d}"]
        for j in range(i + 1)
    ]
    old = float(np.average(exp_acc[:i], weights=sizes[:i])) if i > 0 else float("nan")
    return {
        "experience": i,
        "classes_seen": sum(benchmark.n_classes_per_exp[: i + 1]),
        "accuracy": res["Top1_Acc_Stream/eval_phase/test_stream/Task000"],
        "new_accuracy": exp_acc[i],
        "old_accuracy": old,
        "forgetting": res.get("StreamForgetting/eval_phase/test_stream", 0.0),
        "held_bytes": res["MemoryBytes/eval_phase/test_stream"],
    }


def _base_plugin(name, key: Optional[BaseModelKey], seed, kw) -> list:
    """[BaseModelCache] for a strategy that shares the base model, else []."""
    if key is None or not STRATEGIES[name].shares_base:
        return []
    recipe = ("model_factory", "epochs", "lr", "batch_size", "device")
    return [BaseModelCache(path=key.path(seed=seed, **{k: kw[k] for k in recipe}))]


def run_one(
    name,
    benchmark,
    *,
    seed,
    memory_bytes,
    log_dir=None,
    progress=None,
    base_cache: Optional[BaseModelKey] = None,
    **kw,
) -> List[Dict]:
    """Train and evaluate strategy ``name`` on ``benchmark``: one row per
    experience (JointTraining: one row, after training on everything).
    ``kw`` goes to :func:`~avalanche_featadapt.compare.build.build_strategy`
    (model_factory, epochs, lr, batch_size, device, overrides).

    :param base_cache: where the shared base models are; a strategy whose
        record ``shares_base`` then takes its first experience from there, or
        trains it and stores it (the same rows either way).
    """
    from ..metrics import DriftMetric

    torch.manual_seed(seed)
    np.random.seed(seed)
    drift = DriftMetric(seed=seed) if STRATEGIES[name].drift else None
    strategy = build_strategy(
        name,
        benchmark=benchmark,
        memory_bytes=memory_bytes,
        evaluator=evaluator(log_dir, drift),
        plugins=_base_plugin(name, base_cache, seed, kw),
        **kw,
    )
    rows, wall, cpu, n = [], 0.0, 0.0, len(benchmark.train_stream)
    try:
        steps = [benchmark.train_stream] if name == "joint" else benchmark.train_stream
        for i, exp in enumerate(steps):
            i = n - 1 if name == "joint" else i
            t0, c0 = time.perf_counter(), time.process_time()
            strategy.train(exp)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0  # the time a run takes on an idle core
            res = strategy.eval(benchmark.test_stream[: i + 1])
            timing = {"wall_time_s": wall, "cpu_time_s": cpu}
            rows.append({**_row(res, benchmark, i), **timing})
            if progress:
                progress.update(n if name == "joint" else 1)
    finally:
        if log_dir is not None:
            strategy.evaluator.loggers[0].close()
    history = drift.history if drift else []
    for r in rows:
        r.update(strategy=name, seed=seed, memory_bytes=memory_bytes)
        h = [d for d in history if d["experience"] == r["experience"]]
        for k in DRIFT_KEYS:
            r[drift_field(k)] = h[0][k] if h else float("nan")
    return rows

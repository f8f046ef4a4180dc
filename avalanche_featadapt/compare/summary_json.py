"""summary.json: the figures of summary.md as data, for scripts (the
statistics of :func:`~avalanche_featadapt.compare.report.stats`, per
training, budget and strategy, with the comparison's recorded settings)."""

from __future__ import annotations

import json
import math
from typing import Dict, List

import numpy as np

from .statistics import budgets_of, stats
from .trainings import by_training

__all__ = ["summary_data", "write_summary_json"]

#: summary.json's name of each measure of :func:`stats`
_JSON_NAMES = dict(
    avg_inc="avg_incremental_accuracy",
    final="final_accuracy",
    forgetting="forgetting",
    held="held_bytes",
    wall="wall_time_s",
    cpu="cpu_time_s",
    min_new="min_new_accuracy",
)


def summary_data(rows: List[Dict], settings=None, failures=()) -> Dict:
    """summary.md's figures as data: for each training, budget and strategy,
    each measure of :func:`stats` as its mean, std and per-seed values (over
    ``seeds``; accuracies as fractions; None where not defined, e.g. Joint's
    average incremental accuracy)."""

    def number(v):
        v = float(v)
        return None if math.isnan(v) else v

    results = []
    for training, _, rs in by_training(rows):
        for b in budgets_of(rs):
            seeds = sorted({r["seed"] for r in rs if r.get("memory_bytes") == b})
            for name, s in stats(rs, b).items():
                entry = dict(training=training, memory_bytes=b, strategy=name)
                entry["seeds"] = seeds
                for key, label in _JSON_NAMES.items():
                    v = np.asarray(s[key], dtype=float)
                    if name == "joint" and key == "avg_inc":
                        entry[label] = None
                        continue
                    entry[label] = dict(
                        mean=number(v.mean()),
                        std=number(v.std()),
                        per_seed=[number(x) for x in v],
                    )
                results.append(entry)
    return dict(settings=settings, failures=list(failures), results=results)


def write_summary_json(path, rows, settings=None, failures=()) -> None:
    """Write :func:`summary_data` to ``path``."""
    data = summary_data(rows, settings, failures)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=str)
        f.write("\n")

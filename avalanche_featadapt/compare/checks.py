"""The comparison's settings, checked before any work: each bad value gets a
ValueError that says what to pass instead."""

from __future__ import annotations

import numpy as np

from .registry import BENCHMARKS, STRATEGIES

__all__ = ["check_settings", "check_workers"]


def _positive(name, value, integer=False):
    """None (the benchmark's default) or a positive finite number."""
    if value is None:
        return
    kinds = (int, np.integer) if integer else (int, float, np.number)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        what = "a positive integer" if integer else "a positive number"
        raise ValueError(
            f"{name} must be {what}, got {value!r}; leave it out for the "
            "benchmark's default."
        )


def _unique(name, values):
    dup = sorted({v for v in values if list(values).count(v) > 1}, key=str)
    if dup:
        raise ValueError(f"{name} repeats {dup}; give each value once.")


def check_settings(benchmark, strategies, seeds, budgets, epochs, lr, batch_size, out):
    """Refuse bad settings before any work, with what to pass instead."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategy {unknown}; choose from {list(STRATEGIES)}.")
    if benchmark not in BENCHMARKS:
        raise ValueError(
            f"Unknown benchmark {benchmark!r}; choose from {list(BENCHMARKS)}."
        )
    if not strategies or not seeds:
        raise ValueError("Give at least one strategy and one seed.")
    _unique("--strategies", strategies)
    _unique("--seeds", seeds)
    _positive("--epochs", epochs, integer=True)
    _positive("--lr", lr)
    _positive("--batch-size", batch_size, integer=True)
    if budgets is not None:
        _unique("--memory-bytes", budgets)
        needs = [s for s in strategies if STRATEGIES[s].keeps_memory]
        for b in budgets:
            bad = isinstance(b, bool) or not isinstance(b, (int, np.integer))
            if bad or (b <= 0 and needs) or b < 0:
                raise ValueError(
                    f"--memory-bytes must be > 0 for the memory strategies {needs}; "
                    f"got {b!r}, e.g. --memory-bytes 12800."
                )
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder (it is created).")


def check_workers(workers) -> None:
    """``--workers``: a positive integer (1 runs everything in this process)."""
    ok = isinstance(workers, (int, np.integer)) and not isinstance(workers, bool)
    if not ok or workers < 1:
        raise ValueError(
            f"--workers must be a positive integer, got {workers!r}; 1 runs one "
            "strategy after the other, N runs N at a time in N processes."
        )

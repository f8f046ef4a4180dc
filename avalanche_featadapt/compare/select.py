"""``featadapt select``: the training budgets of a benchmark, chosen on a
validation split held out from the training data, never on the test set
(docs/comparison.md, "Training budgets chosen on validation data").

- the **shared budget**: the epochs at which Joint has converged, the
  smallest value of the grid whose doubling gains less than one point of
  validation accuracy (:func:`shared_epochs`);
- **each at its best**: each strategy's epochs of highest validation
  average incremental accuracy (:func:`best_epochs`), a small grid search
  as in FACIL;
- with ``--lr-grid``, the **shared learning rate** first: the one at which
  Joint, at the grid's largest epochs, is most accurate on the validation
  split (:func:`shared_lr`); the strategies' epochs are chosen at it.

The runs are the comparison's own (:func:`~avalanche_featadapt.compare.
workers.execute`, so ``--workers N`` works), on :func:`held_out` benchmarks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .checks import check_settings, check_workers
from .registry import BENCHMARKS, DEFAULT_STRATEGIES, DEFAULT_SWEEP_IMAGES
from .registry import STRATEGIES
from .validation_split import SPLIT_SEED, VALIDATION_FRACTION, held_out

__all__ = [
    "DEFAULT_EPOCHS_GRID",
    "GAIN",
    "SPLIT_SEED",
    "VALIDATION_FRACTION",
    "Selection",
    "best_epochs",
    "held_out",
    "run_selection",
    "shared_epochs",
    "shared_lr",
]

#: a doubling grid: the rule compares each value with its double, and five
#: values span 2 to 32 epochs (the registry's benchmarks use 5 to 60)
DEFAULT_EPOCHS_GRID = (2, 4, 8, 16, 32)
#: Joint has converged when doubling its epochs gains less than this
GAIN = 0.01


def shared_epochs(curve: Mapping[int, float], gain: float = GAIN) -> Tuple[int, bool]:
    """(epochs, converged): the smallest epochs E of ``curve`` (epochs ->
    Joint's validation accuracy) that no larger value of the grid beats by
    ``gain`` or more (on a doubling grid: doubling E, or more, gains less
    than ``gain``). Every larger value counts, not only the next one, so a
    dip between two grid values is not taken for convergence. The largest
    E, with ``converged=False``, when no smaller E qualifies."""
    grid = sorted(curve)
    for i, e in enumerate(grid[:-1]):
        if max(curve[f] for f in grid[i + 1 :]) - curve[e] < gain:
            return e, True
    return grid[-1], False


def best_epochs(curve: Mapping[int, float]) -> int:
    """The epochs of highest value in ``curve``; the fewer epochs on a tie."""
    return max(sorted(curve), key=lambda e: (curve[e], -e))


def shared_lr(joint_by_lr: Mapping[float, Mapping[int, float]]) -> float:
    """The learning rate whose Joint curve (epochs -> validation accuracy)
    is highest at the grid's largest epochs, the most the selection
    affords; the smaller rate on a tie."""
    top = max(max(c) for c in joint_by_lr.values())
    return max(sorted(joint_by_lr), key=lambda lr: (joint_by_lr[lr].get(top, -1), -lr))


@dataclass(frozen=True)
class Selection:
    """What ``featadapt select`` found: ``curves[strategy][epochs]`` is the
    validation average incremental accuracy (mean over seeds and budgets;
    Joint's: its accuracy after training on everything)."""

    benchmark: str
    command: str
    curves: Dict[str, Dict[int, float]]
    shared: int
    converged: bool
    best: Dict[str, int]
    rows: List[Dict]
    #: the learning rate of every run but those of ``joint_by_lr``
    lr: float = 0.0
    #: ``--lr-grid``: learning rate -> Joint's curve; empty without one
    joint_by_lr: Dict[float, Dict[int, float]] = field(default_factory=dict)


def _curves(rows, names, grid) -> Dict[str, Dict[int, float]]:
    from .statistics import stats

    out: Dict[str, Dict[int, float]] = {}
    for name in names:
        for e in grid:
            at = [r for r in rows if r["strategy"] == name and r["epochs"] == e]
            if not at:
                continue
            per = [
                np.mean(stats(at, b)[name]["avg_inc"])
                for b in sorted({r["memory_bytes"] for r in at})
            ]
            out.setdefault(name, {})[e] = float(np.mean(per))
    return out


def run_selection(
    *,
    benchmark: str = "split-digits",
    protocol: str = "b0-5",
    strategies: Optional[Sequence[str]] = None,
    seeds: Sequence[int] = (0,),
    memory_bytes: Optional[Sequence[int]] = None,
    epochs_grid: Sequence[int] = DEFAULT_EPOCHS_GRID,
    lr: Optional[float] = None,
    lr_grid: Optional[Sequence[float]] = None,
    batch_size: Optional[int] = None,
    device: str = "cpu",
    data_root=None,
    workers: int = 1,
    fraction: float = VALIDATION_FRACTION,
    train_per_class: Optional[int] = None,
    command: str = "",
    quiet: bool = False,
) -> Selection:
    """Train every strategy (Joint always) at every epochs of
    ``epochs_grid`` on :func:`held_out` benchmarks, evaluate on the
    validation stream, and choose the shared and the best epochs.

    :param memory_bytes: budgets; None: the comparison's default sweep.
    :param lr_grid: learning rates to try on Joint first; the others train
        at :func:`shared_lr`. Give it or ``lr``, not both.
    :param train_per_class: as in :func:`~avalanche_featadapt.compare.run.
        run_comparison`, before the validation images are held out.
    :param command: the command to record as the selection's source.
    :raises ValueError: on bad settings, or if every run of a strategy failed.
    """
    from .run import data_options, default_budgets
    from .workers import Job, Setting

    from ..validation.arguments import check_device

    names = ["joint"] + [s for s in strategies or DEFAULT_STRATEGIES if s != "joint"]
    grid = sorted(epochs_grid)
    seeds = list(seeds)
    budgets = None if memory_bytes is None else list(memory_bytes)
    check_settings(benchmark, names, seeds, budgets, None, lr, batch_size, None)
    check_grid(grid)
    check_lr_grid(lr_grid, lr)
    check_workers(workers)
    check_device(device)
    spec = BENCHMARKS[benchmark].on(device)
    setting = Setting(
        benchmark=benchmark,
        protocol=protocol,
        data_root=None if data_root is None else str(data_root),
        training=dict(
            epochs=grid[0],
            lr=spec.lr if lr is None else lr,
            batch_size=spec.batch_size if batch_size is None else batch_size,
        ),
        validation=fraction,
        data_options=data_options(benchmark, train_per_class),
    )
    benches = {s: setting.build(s) for s in seeds}  # held out
    budgets = sorted(
        budgets or default_budgets(benches[seeds[0]], DEFAULT_SWEEP_IMAGES)
    )

    def jobs_of(which):
        return [
            Job(name=n, seed=s, budget=b, epochs=e)
            for s in seeds
            for n in which
            for e in grid
            for b in (budgets if STRATEGIES[n].uses_budget else budgets[:1])
        ]

    run = _Runs(benches, budgets, device, workers, quiet)
    joint_by_lr: Dict[float, Dict[int, float]] = {}
    joint_rows: Dict[float, List[Dict]] = {}
    for x in sorted(lr_grid or []):
        at = replace(setting, training={**setting.training, "lr": float(x)})
        joint_rows[float(x)] = run(jobs_of(["joint"]), at, f"select joint lr={x:g}")
        if joint_rows[float(x)]:
            curve = _curves(joint_rows[float(x)], ["joint"], grid)["joint"]
            joint_by_lr[float(x)] = curve
    rows: List[Dict] = []
    names_left = names
    if lr_grid:
        if not joint_by_lr:
            raise ValueError(f"Every run of joint failed: {'; '.join(run.failed)}.")
        chosen = shared_lr(joint_by_lr)
        setting = replace(setting, training={**setting.training, "lr": chosen})
        rows, names_left = list(joint_rows[chosen]), names[1:]
    rows += run(jobs_of(names_left), setting, "select") if names_left else []
    for f in run.failed:
        print(f"featadapt select: failed: {f}", file=sys.stderr)
    curves = _curves(rows, names, grid)
    if "joint" not in curves or any(n not in curves for n in names):
        raise ValueError(
            f"Every run of {[n for n in names if n not in curves]} failed: "
            f"{'; '.join(run.failed)}."
        )
    shared, converged = shared_epochs(curves["joint"])
    best = {n: best_epochs(c) for n, c in curves.items() if n != "joint"}
    return Selection(
        benchmark=benchmark,
        command=command,
        curves=curves,
        shared=shared,
        converged=converged,
        best=best,
        rows=rows,
        lr=setting.training["lr"],
        joint_by_lr=joint_by_lr,
    )


class _Runs:
    """Runs jobs on the held-out benchmarks and collects their rows (one
    per budget for a strategy without one) and their failures."""

    def __init__(self, benches, budgets, device, workers, quiet):
        self.benches, self.budgets = benches, budgets
        self.device, self.workers, self.quiet = device, workers, quiet
        self.failed: List[str] = []

    def __call__(self, jobs, setting, desc) -> List[Dict]:
        from tqdm.auto import tqdm

        from .workers import execute

        rows: List[Dict] = []

        def done(i, res):
            if res[0] != "ok":
                self.failed.append(res[1])
                return
            job = jobs[i]
            per = self.budgets if not STRATEGIES[job.name].uses_budget else [job.budget]
            rows.extend(
                {**r, "memory_bytes": b, "epochs": job.epochs}
                for b in per
                for r in res[1]
            )

        n_exp = len(next(iter(self.benches.values())).train_stream)
        with tqdm(total=len(jobs) * n_exp, desc=desc, disable=self.quiet) as bar:
            execute(
                jobs,
                setting=setting,
                benchmarks=self.benches,
                device=self.device,
                workers=self.workers,
                done=done,
                progress=bar,
            )
        return rows


def check_grid(grid: Sequence[int]) -> None:
    """``--epochs-grid``: at least two distinct positive integers."""
    ok = all(isinstance(e, (int, np.integer)) and e > 0 for e in grid)
    if not ok or len(set(grid)) != len(grid) or len(grid) < 2:
        raise ValueError(
            f"--epochs-grid needs two or more distinct positive integers, got "
            f"{list(grid)}; e.g. --epochs-grid 2 4 8 16 32."
        )


def check_lr_grid(lr_grid: Optional[Sequence[float]], lr: Optional[float]) -> None:
    """``--lr-grid``: two or more distinct positive rates, without ``--lr``."""
    if lr_grid is None:
        return
    if lr is not None:
        raise ValueError(
            "Give --lr (one rate for every run) or --lr-grid (Joint chooses "
            "among them), not both."
        )
    ok = all(isinstance(x, (int, float)) and 0 < x < float("inf") for x in lr_grid)
    if not ok or len(set(lr_grid)) != len(lr_grid) or len(lr_grid) < 2:
        raise ValueError(
            f"--lr-grid needs two or more distinct positive rates, got "
            f"{list(lr_grid)}; e.g. --lr-grid 0.001 0.003 0.01."
        )

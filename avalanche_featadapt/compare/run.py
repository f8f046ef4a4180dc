"""Run the comparison: every strategy x seed x memory budget, one row per
experience, written to results.csv as each run finishes."""

from __future__ import annotations

import csv
import traceback
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .._arg_checks import check_device
from ..memory import image_bytes
from .checks import check_settings
from .registry import BENCHMARKS, DEFAULT_STRATEGIES, STRATEGIES
from .single_run import evaluator, run_one  # noqa: F401  (their old home)

__all__ = [
    "CSV_FIELDS",
    "ComparisonFailed",
    "DEFAULT_IMAGES",
    "DEFAULT_SWEEP_IMAGES",
    "default_budgets",
    "run_comparison",
]

#: the default budget of run_comparison: the bytes of this many images
DEFAULT_IMAGES = 200
#: the CLI's default sweep, in images of the benchmark: two budgets keep the
#: README's main job (11 strategies x 3 seeds on SplitDigits) near 10 minutes
DEFAULT_SWEEP_IMAGES = (50, 800)
CSV_FIELDS = [
    "strategy",
    "seed",
    "budget_bytes",
    "experience",
    "classes_seen",
    "accuracy",
    "new_accuracy",
    "old_accuracy",
    "forgetting",
    "memory_bytes",
    "wall_time_s",
    "drift_estimated_rel_l2",
    "drift_stale_rel_l2",
    "drift_estimated_cosine",
    "drift_stale_cosine",
]
OUTPUTS = [
    "results.csv",
    "summary.md",
    "accuracy_per_experience.png",
    "accuracy_vs_memory.png",
    "drift.png",
]


class ComparisonFailed(RuntimeError):
    """Some runs failed; the others' rows are in ``rows`` (and on disk)."""

    def __init__(self, failures: List[str], rows: List[Dict]):
        super().__init__(
            f"{len(failures)} run(s) failed: " + "; ".join(failures) + ". The "
            "other runs' results were kept."
        )
        self.failures, self.rows = failures, rows


def default_budgets(benchmark, images: Sequence[int] = (DEFAULT_IMAGES,)) -> List[int]:
    """The bytes of ``images`` images of ``benchmark`` (8-bit pixels)."""
    x0 = benchmark.train_stream[0].dataset.eval()[0][0]
    return [n * image_bytes(x0) for n in images]


def run_comparison(
    *,
    benchmark: str = "split-digits",
    protocol: str = "b0-5",
    strategies=None,
    seeds=(0,),
    memory_bytes: Union[None, int, Sequence[int]] = None,
    epochs: Optional[int] = None,
    lr: Optional[float] = None,
    batch_size: Optional[int] = None,
    device: str = "cpu",
    data_root=None,
    out=None,
    quiet: bool = False,
    overrides: Optional[Dict[str, dict]] = None,
    default_images: Sequence[int] = (DEFAULT_IMAGES,),
) -> List[Dict]:
    """Run every strategy on every seed at every budget; write results.csv
    (after each finished run), summary.md and the plots to ``out`` (if given).
    Returns the rows.

    :param memory_bytes: one budget or several; None: the bytes of
        ``default_images`` images of the benchmark (8-bit pixels; by default
        :data:`DEFAULT_IMAGES`, the CLI sweeps
        :data:`DEFAULT_SWEEP_IMAGES`). Strategies whose
        memory does not depend on the budget run once per seed; their rows
        repeat for each budget.
    :param epochs, lr, batch_size: None takes the benchmark's record.
    :param overrides: strategy name -> hyperparameters replacing its record's.
    :raises ComparisonFailed: after writing everything, if some runs failed.
    """
    strategies = list(strategies or DEFAULT_STRATEGIES)
    seeds = list(seeds)
    if memory_bytes is None or isinstance(memory_bytes, (list, tuple)):
        budgets = None if memory_bytes is None else list(memory_bytes)
    else:
        budgets = [memory_bytes]
    out = Path(out) if out is not None else None
    check_settings(benchmark, strategies, seeds, budgets, epochs, lr, batch_size, out)
    spec = BENCHMARKS[benchmark]
    check_device(device)
    epochs = spec.epochs if epochs is None else epochs
    lr = spec.lr if lr is None else lr
    batch_size = spec.batch_size if batch_size is None else batch_size
    benches = {s: spec.build(protocol, seed=s, data_root=data_root) for s in seeds}
    first = benches[seeds[0]]
    budgets = sorted(
        default_budgets(first, default_images) if budgets is None else budgets
    )
    channels = first.train_stream[0].dataset.eval()[0][0].shape[0]
    model_factory = spec.model(channels)
    from .report import summarize
    from .plots import plot_all

    csv_file = _start_outputs(out)
    from tqdm.auto import tqdm

    n_exp = len(first.train_stream)
    total = (
        len(seeds)
        * n_exp
        * sum(len(budgets) if STRATEGIES[s].uses_budget else 1 for s in strategies)
    )
    rows: List[Dict] = []
    failures: List[str] = []
    common = dict(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        device=device,
        model_factory=model_factory,
    )
    with tqdm(total=total, desc="compare", disable=quiet, unit="exp") as bar:
        for seed in seeds:
            for name in strategies:
                per_budget = STRATEGIES[name].uses_budget
                for b in budgets if per_budget else [budgets[0]]:
                    bar.set_postfix_str(f"{name} seed={seed} budget={b}")
                    tag = f"{name}_seed{seed}" + (f"_{b}B" if per_budget else "")
                    try:
                        got = run_one(
                            name,
                            benches[seed],
                            seed=seed,
                            memory_bytes=b,
                            log_dir=out / "logs" / tag if out else None,
                            progress=bar,
                            overrides=(overrides or {}).get(name),
                            **common,
                        )
                    except Exception as e:  # keep the others' results
                        failures.append(f"{name} seed {seed} budget {b} B: {e}")
                        if not quiet:
                            traceback.print_exc()
                        continue
                    if not per_budget:  # the same run stands for every budget
                        got = [{**r, "budget_bytes": x} for x in budgets for r in got]
                    rows += got
                    _append(csv_file, got)
    if csv_file is not None:
        csv_file.close()
    if out is not None and rows:
        settings = (
            f"benchmark={benchmark} protocol={protocol} seeds={seeds} "
            f"budgets={budgets} epochs={epochs} lr={lr} batch={batch_size}"
        )
        (out / "summary.md").write_text(summarize(rows, settings, failures))
        plot_all(rows, out)
    if failures:
        raise ComparisonFailed(failures, rows)
    return rows


def _start_outputs(out: Optional[Path]):
    """Create ``out`` and remove the previous run's outputs, so nothing stale
    is left; returns the open results.csv with its header."""
    if out is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    for f in OUTPUTS:
        (out / f).unlink(missing_ok=True)
    f = open(out / "results.csv", "w", newline="")
    csv.DictWriter(f, fieldnames=CSV_FIELDS).writeheader()
    f.flush()
    return f


def _append(f, rows):
    if f is None:
        return
    w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
    for r in rows:
        w.writerow({k: r[k] for k in CSV_FIELDS})
    f.flush()

"""Run the comparison: every strategy x seed x memory budget (x training
budget: shared, or each at its best), one row per experience, appended to results.csv as each run finishes and rewritten at
the end in the order seed, strategy, budget, experience, whatever the
number of workers (docs/usage.md, "The comparison on several cores or
GPUs")."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .._arg_checks import check_device
from ..memory import image_bytes
from .checks import check_settings, check_workers
from .registry import BENCHMARKS, DEFAULT_STRATEGIES, STRATEGIES
from .trainings import epochs_plan
from .single_run import evaluator, run_one  # noqa: F401  (their old home)
from .workers import Job, Setting, execute

__all__ = [
    "CSV_FIELDS",
    "ComparisonFailed",
    "DEFAULT_IMAGES",
    "DEFAULT_SWEEP_IMAGES",
    "TEXT_FIELDS",
    "default_budgets",
    "run_comparison",
]

#: the default budget of run_comparison: the bytes of this many images
DEFAULT_IMAGES = 200
#: the CLI's default sweep, in images of the benchmark: two budgets, the
#: fewest that draw a curve, for the README's main job (11 strategies x 3
#: seeds on SplitDigits, 51 runs)
DEFAULT_SWEEP_IMAGES = (50, 800)
CSV_FIELDS = [
    "strategy",
    "training",
    "epochs",
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
    "cpu_time_s",
    "drift_estimated_rel_l2",
    "drift_stale_rel_l2",
    "drift_estimated_cosine",
    "drift_stale_cosine",
]
#: results.csv's columns of text (the others are numbers)
TEXT_FIELDS = {"strategy", "training"}
OUTPUTS = [
    "results.csv",
    "summary.md",
    "accuracy_per_experience.png",
    "accuracy_vs_memory.png",
    "drift.png",
]
OUTPUTS += [f.replace(".png", "_shared.png") for f in OUTPUTS if f.endswith(".png")]


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
    workers: int = 1,
    train_per_class: Optional[int] = None,
    base_cache: bool = True,
    training: str = "both",
) -> List[Dict]:
    """Run every strategy on every seed at every budget; write results.csv
    (after each finished run), summary.md and the plots to ``out`` (if given).
    Returns the rows, in the order seed, strategy, budget, experience.

    :param memory_bytes: one budget or several; None: the bytes of
        ``default_images`` images of the benchmark (8-bit pixels; by default
        :data:`DEFAULT_IMAGES`, the CLI sweeps
        :data:`DEFAULT_SWEEP_IMAGES`). Strategies whose
        memory does not depend on the budget run once per seed; their rows
        repeat for each budget.
    :param epochs, lr, batch_size: None takes the benchmark's record.
    :param training: "shared": every strategy at the benchmark's shared
        epochs; "best": each at the epochs ``featadapt select`` chose for it
        (the registry's ``best_epochs``); "both". A run whose best equals the
        shared epochs serves both; ``epochs`` given, every strategy trains
        for it (only "shared"). Each row's ``training`` and ``epochs`` say
        which.
    :param overrides: strategy name -> hyperparameters replacing its record's.
    :param workers: runs at a time, each in its own process (1: one after
        the other in this process). Each run uses one torch thread on the
        CPU, so the rows are the same for every ``workers``
        (:mod:`~avalanche_featadapt.compare.workers`); with ``device="cuda"``
        and several GPUs, worker i uses GPU ``i % count``.
    :param train_per_class: train on the first N images of each class only
        (benchmarks from images: ``imagefolder``, ``split-cifar100``); a
        fixed subset, the same for every seed and strategy.
    :param base_cache: train the first experience once per seed for the
        strategies that share it (their records' ``shares_base``) and keep it
        in ``out/base_models``, reused by later comparisons with the same
        model, data and recipe (:mod:`~avalanche_featadapt.compare.base_model`);
        the rows are the same as without it. Needs ``out``.
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
    check_workers(workers)
    check_device(device)
    spec = BENCHMARKS[benchmark].on(device)
    plan, notes = epochs_plan(spec, strategies, training, epochs)
    setting = Setting(
        benchmark=benchmark,
        protocol=protocol,
        data_root=None if data_root is None else str(data_root),
        training=dict(
            epochs=spec.epochs if epochs is None else epochs,
            lr=spec.lr if lr is None else lr,
            batch_size=spec.batch_size if batch_size is None else batch_size,
        ),
        data_options=data_options(benchmark, train_per_class),
        base_models=str(out / "base_models") if out and base_cache else None,
    )
    benches = {s: setting.build(s) for s in seeds}
    first = benches[seeds[0]]
    budgets = sorted(
        default_budgets(first, default_images) if budgets is None else budgets
    )
    shared_epochs = setting.training["epochs"]
    jobs, serves = [], []
    for seed in seeds:
        for name in strategies:
            for e, labels in plan[name].items():
                tag = "" if len(plan[name]) == 1 else f"_{e}ep"
                for b in budgets if STRATEGIES[name].uses_budget else budgets[:1]:
                    log = out / "logs" / (_tag(name, seed, b) + tag) if out else None
                    jobs.append(
                        Job(
                            name=name,
                            seed=seed,
                            budget=b,
                            log_dir=log,
                            overrides=(overrides or {}).get(name),
                            epochs=None if e == shared_epochs else e,
                        )
                    )
                    serves.append((e, labels))
    from tqdm.auto import tqdm

    from .plots import plot_all
    from .report import summarize

    csv_file = _start_outputs(out)
    n_exp = len(first.train_stream)
    results: Dict[int, List[Dict]] = {}
    failures: Dict[int, str] = {}

    def done(i: int, res: tuple) -> None:
        job = jobs[i]
        bar.set_postfix_str(f"{job.name} seed={job.seed} budget={job.budget}")
        if res[0] != "ok":
            failures[i] = res[1]
            if not quiet and res[2]:
                print(res[2], file=sys.stderr)
            return
        e, labels = serves[i]
        got = [{**r, "training": t, "epochs": e} for t in labels for r in res[1]]
        if not STRATEGIES[job.name].uses_budget:  # one run stands for each budget
            got = [{**r, "budget_bytes": x} for x in budgets for r in got]
        results[i] = got
        _append(csv_file, got)

    with tqdm(
        total=len(jobs) * n_exp, desc="compare", disable=quiet, unit="exp"
    ) as bar:
        execute(
            jobs,
            setting=setting,
            benchmarks=benches,
            device=device,
            workers=workers,
            done=done,
            progress=bar,
        )
    rows = [r for i in sorted(results) for r in results[i]]
    failed = [failures[i] for i in sorted(failures)]
    if csv_file is not None:
        csv_file.close()
        _write_csv(out / "results.csv", rows)  # in job order, whatever finished first
    if out is not None and rows:
        t = setting.training
        settings = (
            f"benchmark={benchmark} protocol={protocol} seeds={seeds} "
            f"budgets={budgets} epochs={t['epochs']} lr={t['lr']} "
            f"batch={t['batch_size']} training={training}"
        ) + (f" train_per_class={train_per_class}" if train_per_class else "")
        shared = setting.base_models is not None
        text = summarize(rows, settings, failed, shared_base=shared, notes=notes)
        (out / "summary.md").write_text(text)
        plot_all(rows, out)
    if failed:
        raise ComparisonFailed(failed, rows)
    return rows


def data_options(benchmark: str, train_per_class) -> Optional[dict]:
    """The builder's extra arguments; refused where the builder has none."""
    import inspect

    if train_per_class is None:
        return None
    if (
        "train_per_class"
        not in inspect.signature(BENCHMARKS[benchmark].build).parameters
    ):
        takes = [
            n
            for n, b in BENCHMARKS.items()
            if "train_per_class" in inspect.signature(b.build).parameters
        ]
        raise ValueError(
            f"--train-per-class is for the benchmarks {takes}, not {benchmark}; "
            "leave it out."
        )
    return {"train_per_class": train_per_class}


def _tag(name: str, seed: int, budget: int) -> str:
    """The log folder of a run."""
    per_budget = STRATEGIES[name].uses_budget
    return f"{name}_seed{seed}" + (f"_{budget}B" if per_budget else "")


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


def _write_csv(path: Path, rows: List[Dict]) -> None:
    """Replace ``path`` by a results.csv of ``rows``, in one ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        csv.DictWriter(f, fieldnames=CSV_FIELDS).writeheader()
        _append(f, rows)
    os.replace(tmp, path)

"""Run the comparison: every strategy x seed x memory budget (x training
budget: shared, or each at its best), one row per experience, appended to results.csv as each run finishes and rewritten at
the end in the order seed, strategy, budget, experience, whatever the
number of workers (docs/usage.md, "The comparison on several cores or
GPUs")."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..validation.arguments import check_device
from ..memory import image_bytes
from . import results as results_csv
from . import resume as R
from .checks import check_settings, check_workers
from .overrides import check_overrides, check_values
from .registry import BENCHMARKS, DEFAULT_STRATEGIES, DEFAULT_SWEEP_IMAGES
from .registry import STRATEGIES
from .same_memory import budget_groups, memory_facts
from .trainings import epochs_plan
from .single_run import evaluator, run_one  # noqa: F401  (their old home)
from .workers import Job, Setting, execute

__all__ = [
    "ComparisonFailed",
    "DEFAULT_IMAGES",
    "DEFAULT_SWEEP_IMAGES",
    "default_budgets",
    "run_comparison",
]

#: the default budget of run_comparison: the bytes of this many images
DEFAULT_IMAGES = 200


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
    resume: bool = False,
) -> List[Dict]:
    """Run every strategy on every seed at every budget; write results.csv
    (after each finished run), summary.md and the plots to ``out`` (if given).
    Returns the rows, in the order seed, strategy, budget, experience.

    :param memory_bytes: one budget or several; None: the bytes of
        ``default_images`` images of the benchmark (8-bit pixels; by default
        :data:`DEFAULT_IMAGES`, the CLI sweeps
        :data:`DEFAULT_SWEEP_IMAGES`). Strategies whose
        memory does not depend on the budget run once per seed; their rows
        repeat for each budget, and so do those of a budget that already
        holds everything (:mod:`~avalanche_featadapt.compare.same_memory`)
        at every larger one.
    :param epochs, lr, batch_size: None takes the benchmark's record.
    :param training: "shared": every strategy at the benchmark's shared
        epochs; "best": each at the epochs ``featadapt select`` chose for it
        (the registry's ``best_epochs``); "both". A run whose best equals the
        shared epochs serves both; ``epochs`` given, every strategy trains
        for it (only "shared"). Each row's ``training`` and ``epochs`` say
        which.
    :param overrides: strategy name -> hyperparameters replacing its record's
        (``featadapt compare --set``, ``--config``): checked against the
        strategy's constructor before any run, and recorded.
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
    :param resume: if ``out`` holds this same comparison (its settings,
        recorded in ``out/comparison.json``, equal these), keep every
        finished run and run only the others; if it holds another's results,
        refuse with a ValueError. False (the default in Python; ``featadapt
        compare --force``): start over, removing the folder's previous
        outputs and logs.
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
    check_overrides(overrides, strategies)
    overrides = {k: dict(v) for k, v in (overrides or {}).items()}
    benches = {s: setting.build(s) for s in seeds}
    first = benches[seeds[0]]
    budgets = sorted(
        default_budgets(first, default_images) if budgets is None else budgets
    )
    shared_epochs = setting.training["epochs"]
    n_exp = len(first.train_stream)
    jobs, serves, expected = [], [], []
    facts: Dict[int, tuple] = {}
    for seed in seeds:

        def facts_of(seed=seed):
            if seed not in facts:
                facts[seed] = memory_facts(benchmark, benches[seed], device)
            return facts[seed]

        for name in strategies:
            hp = {**STRATEGIES[name].hyperparameters, **overrides.get(name, {})}
            groups = budget_groups(name, budgets, hp, facts_of)
            for e, labels in plan[name].items():
                tag = "" if len(plan[name]) == 1 else f"_{e}ep"
                for group in groups:
                    b = group[0]
                    log = out / "logs" / (_tag(name, seed, b) + tag) if out else None
                    jobs.append(
                        Job(
                            name=name,
                            seed=seed,
                            budget=b,
                            log_dir=log,
                            overrides=overrides.get(name),
                            epochs=None if e == shared_epochs else e,
                        )
                    )
                    serves.append((e, labels, group))
                    steps = [n_exp - 1] if name == "joint" else range(n_exp)
                    keys = [(name, seed, x, t, e) for x in group for t in labels]
                    expected.append([(*k, i) for k in keys for i in steps])
    if overrides:  # the constructors check the values, before any run
        check_values(overrides, benchmark, first, budgets[-1], setting.training)
    from tqdm.auto import tqdm

    from .. import __version__
    from .plots import plot_all
    from .report import summarize
    from .summary_json import write_summary_json

    record = dict(
        benchmark=benchmark,
        protocol=protocol,
        data_root=data_root and str(Path(data_root).expanduser().resolve()),
        train_per_class=train_per_class,
        strategies=strategies,
        seeds=[int(x) for x in seeds],
        budgets=[int(b) for b in budgets],
        device=str(device),
        training=training,
        **setting.training,
        runs={n: {e: list(t) for e, t in plan[n].items()} for n in strategies},
        hyperparameters={
            n: {**STRATEGIES[n].hyperparameters, **overrides.get(n, {})}
            for n in strategies
        },
        overrides=overrides,
    )
    results: Dict[int, List[Dict]] = {}
    if out is not None:
        if R.prepare(out, record, resume=resume, version=__version__):
            results = R.finished(out / results_csv.RESULTS, expected)
        R.clean_logs(out, [jobs[i].log_dir.name for i in results])
    todo = [i for i in range(len(jobs)) if i not in results]
    kept = [r for i in sorted(results) for r in results[i]]
    csv_file = results_csv.open_results(out, kept)
    failures: Dict[int, str] = {}

    def done(k: int, res: tuple) -> None:
        i = todo[k]
        job = jobs[i]
        bar.set_postfix_str(f"{job.name} seed={job.seed} budget={job.budget}")
        if res[0] != "ok":
            failures[i] = res[1]
            if not quiet and res[2]:
                print(res[2], file=sys.stderr)
            return
        e, labels, group = serves[i]
        got = [{**r, "training": t, "epochs": e} for t in labels for r in res[1]]
        # one run stands for each budget of its group (all, without a budget)
        got = [{**r, "memory_bytes": x} for x in group for r in got]
        results[i] = got
        results_csv.append(csv_file, got)

    try:
        with tqdm(
            total=len(todo) * n_exp, desc="compare", disable=quiet, unit="exp"
        ) as bar:
            if todo:
                execute(
                    [jobs[i] for i in todo],
                    setting=setting,
                    benchmarks=benches,
                    device=device,
                    workers=workers,
                    done=done,
                    progress=bar,
                )
    finally:
        if csv_file is not None:
            csv_file.close()
    rows = [r for i in sorted(results) for r in results[i]]
    failed = [failures[i] for i in sorted(failures)]
    if out is not None:  # in job order, whatever finished first
        results_csv.write_csv(out / results_csv.RESULTS, rows)
    if out is not None and rows:
        t = setting.training
        settings = (
            f"benchmark={benchmark} protocol={protocol} seeds={seeds} "
            f"budgets={budgets} epochs={t['epochs']} lr={t['lr']} "
            f"batch={t['batch_size']} training={training}"
        ) + (f" train_per_class={train_per_class}" if train_per_class else "")
        settings += "".join(f" {n}={hp}" for n, hp in overrides.items())
        shared = setting.base_models is not None
        text = summarize(rows, settings, failed, shared_base=shared, notes=notes)
        (out / "summary.md").write_text(text)
        write_summary_json(out / "summary.json", rows, record, failed)
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

"""``featadapt compare``: every strategy side by side, at one memory budget in
bytes, writing results.csv, summary.md and plots.

    featadapt compare --benchmark split-digits --seeds 0 1 2
    python -m avalanche_featadapt.compare --help
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from ._utils import check_device
from .baselines import MEMORY_STRATEGIES, STRATEGIES, build_strategy
from .memory import image_bytes
from .datasets import BENCHMARKS, make_benchmark, model_factory_for, parse_protocol

__all__ = ["main", "run_comparison", "summarize"]

DEFAULT_STRATEGIES = [
    "naive",
    "joint",
    "lwf",
    "icarl",
    "replay",
    "sdc",
    "sdc-nocomp",
    "featadapt",
    "featadapt-int8",
    "featadapt-hybrid",
    "featadapt-noadapt",
]
#: the default budget: the bytes of this many images of the benchmark
DEFAULT_IMAGES = 200
#: per benchmark: (epochs, Adam learning rate, batch size), shared by all
DEFAULTS = {
    "split-digits": (20, 1e-4, 32),
    "split-mnist": (5, 1e-3, 128),
    "split-cifar100": (60, 1e-3, 128),
    "imagenet-subset": (30, 1e-3, 64),
}
CSV_FIELDS = [
    "strategy",
    "seed",
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
#: strategies whose belief about old features the DriftMetric can follow
DRIFT_STRATEGIES = [
    "featadapt",
    "featadapt-fp16",
    "featadapt-int8",
    "featadapt-hybrid",
    "featadapt-noadapt",
    "sdc",
    "sdc-nocomp",
    "sdc-ft",
]


def _evaluator(log_dir: Optional[Path], drift=None):
    from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
    from avalanche.training.plugins import EvaluationPlugin

    from .loggers import MetricsCSVLogger
    from .memory import MemoryBytes

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


def _row_from_metrics(res: Dict, benchmark, i: int) -> Dict:
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
        "memory_bytes": res["MemoryBytes/eval_phase/test_stream"],
    }


def run_one(
    name,
    benchmark,
    *,
    seed,
    memory_bytes,
    epochs,
    lr,
    batch_size,
    device,
    model_factory,
    log_dir=None,
    progress=None,
    overrides=None,
) -> List[Dict]:
    """Train and evaluate one strategy on one benchmark; one row per experience
    (JointTraining: one row, after training on everything)."""
    from .drift import DriftMetric

    torch.manual_seed(seed)
    np.random.seed(seed)
    drift = DriftMetric(seed=seed) if name in DRIFT_STRATEGIES else None
    strategy = build_strategy(
        name,
        model_factory=model_factory,
        benchmark=benchmark,
        memory_bytes=memory_bytes,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        device=device,
        evaluator=_evaluator(log_dir, drift),
        overrides=(overrides or {}).get(name),
    )
    rows, wall = [], 0.0
    n = len(benchmark.train_stream)
    if name == "joint":
        t0 = time.perf_counter()
        strategy.train(benchmark.train_stream)
        wall = time.perf_counter() - t0
        res = strategy.eval(benchmark.test_stream)
        rows.append({**_row_from_metrics(res, benchmark, n - 1), "wall_time_s": wall})
        if progress:
            progress.update(n)
    else:
        for i, exp in enumerate(benchmark.train_stream):
            t0 = time.perf_counter()
            strategy.train(exp)
            wall += time.perf_counter() - t0
            res = strategy.eval(benchmark.test_stream[: i + 1])
            rows.append({**_row_from_metrics(res, benchmark, i), "wall_time_s": wall})
            if progress:
                progress.update(1)
    for r in rows:
        r.update(strategy=name, seed=seed)
        h = [
            d
            for d in (drift.history if drift else [])
            if d["experience"] == r["experience"]
        ]
        for k in (
            "estimated_rel_l2",
            "stale_rel_l2",
            "estimated_cosine",
            "stale_cosine",
        ):
            r[f"drift_{k}"] = h[0][k] if h else float("nan")
    if log_dir is not None:
        strategy.evaluator.loggers[0].close()
    return rows


def run_comparison(
    *,
    benchmark: str = "split-digits",
    protocol: str = "b0-5",
    strategies=None,
    seeds=(0,),
    memory_bytes: Optional[int] = None,
    epochs: Optional[int] = None,
    lr: Optional[float] = None,
    batch_size: Optional[int] = None,
    device: str = "cpu",
    data_root=None,
    out=None,
    quiet: bool = False,
    overrides: Optional[Dict[str, dict]] = None,
) -> List[Dict]:
    """Run every strategy on every seed; write results.csv, summary.md and the
    plots to ``out`` (if given). Returns the rows. ``overrides`` maps a
    strategy name to hyperparameters that replace its defaults."""
    strategies = list(strategies or DEFAULT_STRATEGIES)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"Unknown strategy {unknown}; choose from {STRATEGIES}.")
    if benchmark not in BENCHMARKS:
        raise ValueError(
            f"Unknown benchmark {benchmark!r}; choose from {list(BENCHMARKS)}."
        )
    if memory_bytes is not None and memory_bytes <= 0:
        needs = [s for s in strategies if s in MEMORY_STRATEGIES]
        if needs:
            raise ValueError(
                f"--memory-bytes must be > 0 for the memory strategies {needs}; "
                "e.g. --memory-bytes 51200."
            )
    if benchmark in ("split-digits",):
        parse_protocol(protocol, BENCHMARKS[benchmark])  # fail before any work
    check_device(device)
    d_epochs, d_lr, d_bs = DEFAULTS[benchmark]
    epochs, lr, batch_size = epochs or d_epochs, lr or d_lr, batch_size or d_bs
    out = Path(out) if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    benches = {
        s: make_benchmark(benchmark, protocol, seed=s, data_root=data_root)
        for s in seeds
    }
    if memory_bytes is None:  # the bytes of DEFAULT_IMAGES images (8-bit pixels)
        x0 = benches[seeds[0]].train_stream[0].dataset.eval()[0][0]
        memory_bytes = DEFAULT_IMAGES * image_bytes(x0)
    total = sum(len(b.train_stream) for b in benches.values()) * len(strategies)
    rows: List[Dict] = []
    with tqdm(total=total, desc="compare", disable=quiet, unit="exp") as bar:
        for seed in seeds:
            for name in strategies:
                bar.set_postfix_str(f"{name} seed={seed}")
                log_dir = out / "logs" / f"{name}_seed{seed}" if out else None
                rows += run_one(
                    name,
                    benches[seed],
                    seed=seed,
                    memory_bytes=memory_bytes,
                    epochs=epochs,
                    lr=lr,
                    batch_size=batch_size,
                    device=device,
                    model_factory=model_factory_for(benchmark),
                    log_dir=log_dir,
                    progress=bar,
                    overrides=overrides,
                )
    if out is not None:
        with open(out / "results.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            for r in rows:
                w.writerow({k: r[k] for k in CSV_FIELDS})
        settings = (
            f"benchmark={benchmark} protocol={protocol} seeds={list(seeds)} "
            f"memory_bytes={memory_bytes} epochs={epochs} lr={lr} batch={batch_size}"
        )
        (out / "summary.md").write_text(summarize(rows, settings))
        plot(rows, out)
    return rows


def _by(rows, name):
    return [r for r in rows if r["strategy"] == name]


def stats(rows: List[Dict]) -> Dict[str, Dict]:
    """Per strategy, over seeds: final and average incremental accuracy,
    final forgetting, most memory bytes held, total wall time; each a list
    over seeds."""
    out = {}
    for name in dict.fromkeys(r["strategy"] for r in rows):
        per_seed = {}
        for r in _by(rows, name):
            per_seed.setdefault(r["seed"], []).append(r)
        s = {
            k: []
            for k in ("final", "avg_inc", "forgetting", "memory", "wall", "min_new")
        }
        for seed, rs in sorted(per_seed.items()):
            rs = sorted(rs, key=lambda r: r["experience"])
            s["final"].append(rs[-1]["accuracy"])
            s["avg_inc"].append(float(np.mean([r["accuracy"] for r in rs])))
            s["forgetting"].append(rs[-1]["forgetting"])
            s["memory"].append(max(r["memory_bytes"] for r in rs))
            s["wall"].append(rs[-1]["wall_time_s"])
            s["min_new"].append(min(r["new_accuracy"] for r in rs))
        out[name] = s
    return out


def _pm(v, pct=True, digits=1):
    v = np.asarray(v, dtype=float)
    f = 100 if pct else 1
    return f"{f * v.mean():.{digits}f} ± {f * v.std():.{digits}f}"


ORDERINGS = [
    (
        "featadapt",
        "featadapt-noadapt",
        "Does the adapter help? (FA vs FA without adapter)",
    ),
    ("featadapt", "icarl", "FA vs iCaRL (image exemplars) at the same bytes"),
    ("featadapt", "replay", "FA vs Replay (image exemplars) at the same bytes"),
    ("featadapt-int8", "icarl", "FA with int8 features vs iCaRL at the same bytes"),
    ("featadapt-int8", "replay", "FA with int8 features vs Replay at the same bytes"),
    (
        "featadapt-hybrid",
        "replay",
        "FA hybrid (images + int8 features) vs Replay at the same bytes",
    ),
    ("sdc", "sdc-nocomp", "SDC vs its base E-LwF (same training, stale prototypes)"),
    ("lwf", "naive", "LwF vs Naive"),
]


def summarize(rows: List[Dict], settings: str = "") -> str:
    """The markdown summary: mean ± std over seeds, then the orderings."""
    st = stats(rows)
    lines = [
        "# Comparison summary",
        "",
        f"Settings: {settings}" if settings else "",
        "",
        "| strategy | final acc (%) | avg incremental acc (%) | forgetting (%) "
        "| memory bytes | wall time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in st.items():
        avg = "—" if name == "joint" else _pm(s["avg_inc"])
        mem = int(np.max(s["memory"]))
        lines.append(
            f"| {name} | {_pm(s['final'])} | {avg} | {_pm(s['forgetting'])} "
            f"| {mem:,} | {_pm(s['wall'], pct=False)} |"
        )
    n_exp = max(r["experience"] for r in rows) + 1
    head = " | ".join(f"exp {i + 1}" for i in range(n_exp))
    lines += [
        "",
        "## After each experience (mean over seeds)",
        "",
        f"| strategy | {head} |",
        "|---|" + "---|" * n_exp,
    ]
    for name in st:
        cells = []
        for i in range(n_exp):
            rs = [r for r in _by(rows, name) if r["experience"] == i]
            if not rs:
                cells.append("")
                continue
            acc = 100 * np.mean([r["accuracy"] for r in rs])
            mem = int(max(r["memory_bytes"] for r in rs))
            cells.append(f"{acc:.1f} % ({mem:,} B)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Accuracies are Avalanche's `Top1_Acc_Stream` on the test data of the "
        "classes seen so far; forgetting is Avalanche's `StreamForgetting`; "
        "memory is the most bytes the strategy held (`MemoryBytes`). Joint "
        "trains once on all data (its memory is the whole training set).",
        "",
        "## Orderings (final accuracy, per seed)",
        "",
    ]
    for a, b, title in ORDERINGS:
        if a in st and b in st:
            d = np.asarray(st[a]["final"]) - np.asarray(st[b]["final"])
            wins = int((d > 0).sum())
            lines.append(
                f"- {title}: {a} − {b} = {100 * d.mean():+.1f} points "
                f"(per seed: {', '.join(f'{100 * x:+.1f}' for x in d)}; "
                f"{a} ahead on {wins}/{len(d)} seeds)"
            )
    drift = [r for r in rows if not np.isnan(r.get("drift_estimated_rel_l2", np.nan))]
    if drift:
        last = max(r["experience"] for r in drift)
        lines += [
            "",
            "## Drift of old-class features after the last experience (probe set)",
            "",
            "| strategy | believed: rel. L2 error | uncompensated: rel. L2 error "
            "| believed: cosine | uncompensated: cosine |",
            "|---|---|---|---|---|",
        ]
        for name in dict.fromkeys(r["strategy"] for r in drift):
            rs = [r for r in drift if r["strategy"] == name and r["experience"] == last]
            cells = [
                _pm([r[f"drift_{k}"] for r in rs], pct=False, digits=3)
                for k in (
                    "estimated_rel_l2",
                    "stale_rel_l2",
                    "estimated_cosine",
                    "stale_cosine",
                )
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append(
            "\nFA and its ablation: per stored feature; SDC: per class prototype."
        )
    stalled = [n for n, s in st.items() if n != "joint" and min(s["min_new"]) < 0.5]
    lines += [
        "",
        "## Does every strategy learn each experience?",
        "",
        "Lowest accuracy on the newest classes right after learning them: "
        + ", ".join(
            f"{n} {100 * min(s['min_new']):.0f}%" for n, s in st.items() if n != "joint"
        )
        + ".",
    ]
    if stalled:
        lines.append(f"WARNING: below 50 % for {stalled}: they may not be learning.")
    return "\n".join(lines) + "\n"


#: one colour per strategy, the same in every plot
COLORS = {
    "naive": "tab:gray",
    "joint": "black",
    "lwf": "tab:orange",
    "icarl": "tab:green",
    "replay": "tab:olive",
    "sdc": "tab:blue",
    "sdc-nocomp": "tab:cyan",
    "sdc-ft": "tab:purple",
    "featadapt": "tab:red",
    "featadapt-noadapt": "tab:pink",
    "featadapt-fp16": "tab:brown",
    "featadapt-int8": "darkred",
    "featadapt-hybrid": "gold",
}


def plot(rows: List[Dict], out: Path) -> None:
    """accuracy_per_experience.png and accuracy_vs_memory.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = stats(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    n_exp = max(r["experience"] for r in rows) + 1
    for name in st:
        rs = _by(rows, name)
        if name == "joint":
            acc = np.mean([r["accuracy"] for r in rs])
            ax.axhline(100 * acc, ls="--", c="grey", label="joint (upper bound)")
            continue
        xs = sorted({r["experience"] for r in rs})
        m = [
            100 * np.mean([r["accuracy"] for r in rs if r["experience"] == x])
            for x in xs
        ]
        sd = [
            100 * np.std([r["accuracy"] for r in rs if r["experience"] == x])
            for x in xs
        ]
        line = ax.plot(
            [x + 1 for x in xs],
            m,
            "-o",
            label=name,
            color=COLORS.get(name),
            lw=2.5 if name == "featadapt" else 1.3,
            ms=4,
        )
        ax.fill_between(
            [x + 1 for x in xs],
            np.subtract(m, sd),
            np.add(m, sd),
            color=line[0].get_color(),
            alpha=0.12,
        )
    ax.set_xlabel("experience")
    ax.set_ylabel("accuracy on classes seen so far (%)")
    ax.set_xticks(range(1, n_exp + 1))
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower left")
    ax.set_title("Accuracy after each experience (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(out / "accuracy_per_experience.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, s in st.items():
        mem, acc = np.max(s["memory"]), 100 * np.mean(s["final"])
        ax.errorbar(
            mem,
            acc,
            yerr=100 * np.std(s["final"]),
            fmt="o",
            capsize=3,
            color=COLORS.get(name),
        )
        ax.annotate(
            name, (mem, acc), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    ax.set_xscale("symlog", linthresh=1000)
    ax.set_xlabel("memory held (bytes, symlog)")
    ax.set_ylabel("final accuracy (%)")
    ax.grid(alpha=0.3)
    ax.set_title("Final accuracy against memory")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_memory.png", dpi=120)
    plt.close(fig)

    drift_rows = [
        r for r in rows if not np.isnan(r.get("drift_estimated_rel_l2", np.nan))
    ]
    if drift_rows:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        # the method's belief (solid) and, from the same run, the uncompensated
        # estimate (dashed); the -noadapt/-nocomp runs only repeat the latter
        for name in [
            n
            for n in ("featadapt", "sdc", "sdc-ft")
            if n in {r["strategy"] for r in drift_rows}
        ]:
            rs = [r for r in drift_rows if r["strategy"] == name]
            xs = sorted({r["experience"] for r in rs})
            for key, style, what in (
                ("estimated", "-o", "believed (adapted / compensated)"),
                ("stale", "--", "uncompensated (stale)"),
            ):
                v = [
                    np.mean(
                        [r[f"drift_{key}_rel_l2"] for r in rs if r["experience"] == x]
                    )
                    for x in xs
                ]
                ax.plot(
                    [x + 1 for x in xs],
                    v,
                    style,
                    color=COLORS.get(name),
                    label=f"{name}: {what}",
                )
        ax.set_xticks(range(2, max(r["experience"] for r in rows) + 2))
        ax.set_ylabel(
            "relative L2 error vs true new features\n(FA: per feature; SDC: per class mean)"
        )
        ax.set_title("Error of the old-class features each method believes (probe set)")
        ax.grid(alpha=0.3)
        ax.set_xlabel("experience")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        fig.savefig(out / "drift.png", dpi=120)
        plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="featadapt compare",
        description="Compare feature adaptation with iCaRL, LwF, SDC, Replay, Naive "
        "and Joint at one memory budget in bytes.",
    )
    p.add_argument("--benchmark", default="split-digits", choices=list(BENCHMARKS))
    p.add_argument("--data-root", default=None, help="local dataset folder (real data)")
    p.add_argument(
        "--protocol",
        default="b0-5",
        help="b0-N: N equal experiences; bP-N: P%% of the classes first, "
        "then N experiences (b50-5, b50-10, b50-25)",
    )
    p.add_argument(
        "--strategies",
        nargs="+",
        default=DEFAULT_STRATEGIES,
        metavar="NAME",
        help=f"from {STRATEGIES}",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--memory-bytes",
        type=int,
        default=None,
        help="memory budget in bytes (default: 200 images of the benchmark as "
        "8-bit pixels, 12800 on split-digits)",
    )
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="results/split-digits")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "compare":  # the `featadapt compare` console script
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            # Avalanche re-enables its own deprecation warnings on each call;
            # they are not the user's to act on here.
            warnings.simplefilter("ignore")
            warnings.showwarning = lambda *args, **kwargs: None
            run_comparison(
                benchmark=args.benchmark,
                protocol=args.protocol,
                strategies=args.strategies,
                seeds=args.seeds,
                memory_bytes=args.memory_bytes,
                epochs=args.epochs,
                lr=args.lr,
                batch_size=args.batch_size,
                device=args.device,
                data_root=args.data_root,
                out=args.out,
                quiet=args.quiet,
            )
    except (ValueError, FileNotFoundError) as e:
        print(f"featadapt compare: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print((out / "summary.md").read_text())
    written = ["results.csv", "summary.md", "accuracy_per_experience.png"]
    written += ["accuracy_vs_memory.png", "drift.png"]
    print("Wrote " + ", ".join(str(out / f) for f in written if (out / f).exists()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

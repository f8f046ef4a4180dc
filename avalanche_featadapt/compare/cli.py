"""The ``featadapt`` command line: ``featadapt compare``, ``featadapt
select``, ``featadapt report`` and ``featadapt list``. A bare ``featadapt``
prints this help."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

from .registry import BENCHMARKS, DEFAULT_STRATEGIES, DEFAULT_SWEEP_IMAGES
from .registry import STRATEGIES
from .select_cli import add_select

# .run (torch, Avalanche) is imported where a command needs it: `featadapt
# --help` and `featadapt list` start in a fraction of a second

__all__ = ["build_parser", "main"]

_SWEEP = ", ".join(map(str, DEFAULT_SWEEP_IMAGES))


def _common(p, seeds):
    """The options ``compare`` and ``select`` share."""
    p.add_argument("--benchmark", default="split-digits", choices=list(BENCHMARKS))
    p.add_argument(
        "--data-root",
        default=None,
        help="local dataset folder, or FILE.npz for --benchmark npz (nothing is "
        "downloaded)",
    )
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
        help=f"from {list(STRATEGIES)} (default: {' '.join(DEFAULT_STRATEGIES)})",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=seeds)
    p.add_argument(
        "--memory-bytes",
        nargs="+",
        type=int,
        default=None,
        metavar="BYTES",
        help=f"one or several budgets in bytes (default: the bytes of {_SWEEP} "
        "images of the benchmark; on split-digits 3200 51200)",
    )
    p.add_argument(
        "--train-per-class",
        type=int,
        default=None,
        metavar="N",
        help="imagefolder, split-cifar100: train on N images of each class (a "
        "fixed subset, the same for every seed and strategy; default: all)",
    )


def _add_compare(sub):
    p = sub.add_parser(
        "compare",
        help="run every strategy side by side at one or several memory budgets",
        description="Compare feature adaptation with iCaRL, LwF, SDC, Replay, "
        "Naive and Joint at memory budgets in bytes (images at 8 bits per pixel, "
        "features at their dtype); writes results.csv, summary.md and plots.",
    )
    _common(p, [0, 1, 2])
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="default: the benchmark's shared training budget; given, every "
        "strategy trains for it (no 'each at its best' runs)",
    )
    p.add_argument(
        "--training",
        choices=("shared", "best", "both"),
        default="both",
        help="shared: every strategy at the benchmark's shared epochs; best: "
        "each at its epochs chosen by `featadapt select` (recorded in the "
        "registry); both (default): both, a run serving both where they agree",
    )
    p.add_argument("--lr", type=float, default=None, help="default: the benchmark's")
    p.add_argument(
        "--batch-size", type=int, default=None, help="default: the benchmark's"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="runs at a time, each in its own process with one torch thread "
        "(default 1: one after the other); results.csv is the same for every "
        "N. With --device cuda and several GPUs, worker i uses GPU i %% count",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="sets",
        metavar="STRATEGY.PARAM=VALUE",
        help="a hyperparameter of one strategy, e.g. featadapt.lambda_fd=10 or "
        "featadapt-fp32.lambda_stored=0 (repeatable; the value is read as TOML, "
        "else as text); `featadapt list` names each strategy's",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="a TOML file of hyperparameters, one [STRATEGY] table each (--set "
        "wins where both give one)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="default: results/<benchmark>. Run the same command again into the "
        "same folder to resume: finished runs are kept",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="start over in --out, replacing the results of any comparison there "
        "(without it, another comparison's results are refused)",
    )
    p.add_argument(
        "--no-base-cache",
        action="store_true",
        help="train the first experience in every run, instead of once per seed "
        "for the strategies that share it (naive, replay, lwf), kept in "
        "OUT/base_models; the results are the same",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_compare)


def _add_report(sub):
    p = sub.add_parser(
        "report",
        help="rewrite summary.md and the plots from a results.csv",
        description="Rewrite summary.md and the plots of a comparison folder "
        "from its results.csv (e.g. after a partial run).",
    )
    p.add_argument("folder", help="the --out folder of a comparison")
    p.set_defaults(func=_report)


def _add_list(sub):
    p = sub.add_parser(
        "list",
        help="list the strategies and benchmarks, with their settings and sources",
        description="The registry: every strategy and benchmark with its "
        "hyperparameters and where they come from.",
    )
    p.set_defaults(func=_list)


def build_parser() -> argparse.ArgumentParser:
    """``featadapt`` and its subcommands."""
    p = argparse.ArgumentParser(
        prog="featadapt",
        description="Memory-efficient feature adaptation (Iscen et al., ECCV "
        "2020) in Avalanche: the side-by-side comparison.",
        epilog="Run `featadapt SUBCOMMAND --help` for a subcommand's options.",
    )
    sub = p.add_subparsers(title="subcommands", dest="command", metavar="SUBCOMMAND")
    _add_compare(sub)
    add_select(sub, _common)
    _add_report(sub)
    _add_list(sub)
    return p


def _error(msg, command="compare") -> int:
    print(f"featadapt {command}: error: {msg}", file=sys.stderr)
    return 2


def _compare(args) -> int:
    from .overrides import load_config, merged, parse_sets
    from .results import OUTPUTS
    from .run import ComparisonFailed, run_comparison

    out = Path(args.out or f"results/{args.benchmark}")
    stopped = []

    def stop(signum, frame):  # SIGTERM unwinds as Ctrl-C does: workers stop
        stopped.append(signum)
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, stop)
    try:
        config = load_config(args.config) if args.config else None
        overrides = merged(config, parse_sets(args.sets))
        with warnings.catch_warnings():
            # Avalanche re-enables its own deprecation warnings on each call;
            # they are not the user's to act on here.
            warnings.simplefilter("ignore")
            warnings.showwarning = lambda *a, **k: None
            run_comparison(
                benchmark=args.benchmark,
                protocol=args.protocol,
                strategies=args.strategies,
                seeds=args.seeds,
                memory_bytes=args.memory_bytes,
                default_images=DEFAULT_SWEEP_IMAGES,
                epochs=args.epochs,
                lr=args.lr,
                batch_size=args.batch_size,
                device=args.device,
                data_root=args.data_root,
                out=out,
                quiet=args.quiet,
                overrides=overrides,
                workers=args.workers,
                base_cache=not args.no_base_cache,
                train_per_class=args.train_per_class,
                training=args.training,
                resume=not args.force,
            )
    except ComparisonFailed as e:
        if (out / "summary.md").exists():
            print((out / "summary.md").read_text())
        return _error(f"{e} See {out / 'results.csv'}.") - 1
    except (ValueError, OSError) as e:
        return _error(e)
    except KeyboardInterrupt:
        sig = stopped[0] if stopped else signal.SIGINT
        print(
            f"\nfeatadapt compare: stopped; the finished runs are kept in "
            f"{out / 'results.csv'}. Run the same command again to run the others.",
            file=sys.stderr,
        )
        return 128 + sig
    finally:
        signal.signal(signal.SIGTERM, before)
    print((out / "summary.md").read_text())
    print("Wrote " + ", ".join(str(out / f) for f in OUTPUTS if (out / f).exists()))
    return 0


def _report(args) -> int:
    from .plots import plot_all
    from .report import summarize
    from .results import read_results
    from .resume import read_record
    from .summary_json import write_summary_json

    folder = Path(args.folder)
    try:
        rows = read_results(folder / "results.csv")
    except (OSError, ValueError, KeyError) as e:
        return _error(f"cannot read {folder / 'results.csv'}: {e}")
    if not rows:
        return _error(f"{folder / 'results.csv'} has no rows.")
    (folder / "summary.md").write_text(summarize(rows, f"from {folder}"))
    record = read_record(folder)
    settings = record and record["settings"]
    write_summary_json(folder / "summary.json", rows, settings)
    written = plot_all(rows, folder)
    made = [folder / "summary.md", folder / "summary.json", *written]
    print("Wrote " + ", ".join(map(str, made)))
    return 0


def _list(args) -> int:
    print("Strategies (name, memory, hyperparameters; source):")
    for s in STRATEGIES.values():
        print(f"  {s.name:18} {s.memory:6} {s.hyperparameters}\n{'':26}{s.source}")
    print("\nBenchmarks (name: epochs, Adam lr, batch, schedule; source; layout):")
    for b in BENCHMARKS.values():
        print(
            f"  {b.name}: {b.epochs} epochs, lr {b.lr}, batch {b.batch_size}, "
            f"{b.schedule}\n      {b.source}"
        )
        print(f"      epochs: {b.selection_note()}")
        print(f"      data: {b.layout or 'embedded (scikit-learn)'}")
        if b.image_shape:
            c, h, w = b.image_shape
            print(f"      an image: {c}x{h}x{w} = {c * h * w:,} bytes at 8 bits/pixel")
    return 0


def main(argv=None) -> int:
    """``featadapt [SUBCOMMAND] ...``; with no arguments, print the help."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)

"""``featadapt select``: its options and what it prints (the selection
itself is :mod:`~avalanche_featadapt.compare.select`)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from .registry import DEFAULT_STRATEGIES

__all__ = ["add_select"]


def add_select(sub, common) -> None:
    """``featadapt select``, its options and ``common``'s (those it shares
    with ``featadapt compare``)."""
    from .select import DEFAULT_EPOCHS_GRID

    grid = " ".join(map(str, DEFAULT_EPOCHS_GRID))
    p = sub.add_parser(
        "select",
        help="choose the training budgets (epochs) on validation data",
        description="Hold out 20%% of each class's training images, train every "
        "strategy over a grid of epochs, evaluate on the held-out images (never "
        "the test set), and choose the shared budget (the epochs at which Joint "
        "has converged: doubling them gains less than 1 point) and each "
        "strategy's best (highest validation average incremental accuracy). "
        "Writes selection.md, selection.csv and selection.png, and prints the "
        "registry entry to record.",
    )
    common(p, [0])
    p.add_argument(
        "--epochs-grid",
        nargs="+",
        type=int,
        default=list(DEFAULT_EPOCHS_GRID),
        metavar="E",
        help=f"epochs to try, two or more (default: {grid}, a doubling grid)",
    )
    lr = p.add_mutually_exclusive_group()
    lr.add_argument("--lr", type=float, default=None, help="default: the benchmark's")
    lr.add_argument(
        "--lr-grid",
        nargs="+",
        type=float,
        default=None,
        metavar="LR",
        help="learning rates to try on Joint first (e.g. 0.001 0.003 0.01); the "
        "one at which Joint is most accurate at the grid's largest epochs is the "
        "shared rate, at which the strategies' epochs are chosen",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="default: the benchmark's"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1, metavar="N")
    p.add_argument("--out", default=None, help="default: results/<benchmark>/select")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_select)


def _select_command(args) -> str:
    """The command line that reproduces this selection."""
    parts = ["featadapt select", f"--benchmark {args.benchmark}"]
    if args.data_root is not None and args.benchmark != "split-digits":
        parts.append("--data-root DATA")
    parts += [
        f"--protocol {args.protocol}",
        "--seeds " + " ".join(map(str, args.seeds)),
    ]
    parts.append("--epochs-grid " + " ".join(map(str, args.epochs_grid)))
    if args.strategies != DEFAULT_STRATEGIES:
        parts.append("--strategies " + " ".join(args.strategies))
    for opt in ("memory_bytes", "lr", "lr_grid", "batch_size", "train_per_class"):
        v = getattr(args, opt)
        if v is not None:
            v = " ".join(map(str, v)) if isinstance(v, list) else v
            parts.append(f"--{opt.replace('_', '-')} {v}")
    return " ".join(parts)


def _select(args) -> int:
    from .select import run_selection
    from .selection_report import registry_entry, write_selection

    out = Path(args.out or f"results/{args.benchmark}/select")
    command = _select_command(args)
    try:
        if out.exists() and not out.is_dir():  # before the runs, not after
            raise ValueError(f"--out {out} is a file; give a folder (it is created).")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.showwarning = lambda *a, **k: None
            sel = run_selection(
                benchmark=args.benchmark,
                protocol=args.protocol,
                strategies=args.strategies,
                seeds=args.seeds,
                memory_bytes=args.memory_bytes,
                epochs_grid=args.epochs_grid,
                lr=args.lr,
                lr_grid=args.lr_grid,
                batch_size=args.batch_size,
                device=args.device,
                data_root=args.data_root,
                workers=args.workers,
                train_per_class=args.train_per_class,
                command=command,
                quiet=args.quiet,
            )
        files = write_selection(sel, out)
    except (ValueError, OSError) as e:
        print(f"featadapt select: error: {e}", file=sys.stderr)
        return 2
    print(files[0].read_text())
    print("Wrote " + ", ".join(map(str, files)))
    print("\nRecord it in the registry:\n" + registry_entry(sel))
    return 0

"""Accuracy figures of feature adaptation on SplitDigits 5x2 (seeds 0, 1, 2):
FA, the "FA without adapter" ablation (stale features), Naive and FA with
BatchNorm statistics left live, at a feature budget of 51,200 bytes. Prints
final and average incremental accuracy. With one-class experiences (b50-5)
it also prints FA that trains the backbone on them (freeze_one_class=False),
with BatchNorm statistics frozen and live.

    .venv/bin/python perf/splitdigits_fa.py [--seeds 0 1 2] [--epochs 20]
    .venv/bin/python perf/splitdigits_fa.py --protocol b50-5 --epochs 10 --lr 1e-3

20 epochs, the recipe FA was tuned with (the benchmark's default is 10, to
keep the main job short; docs/comparison.md). The second command is the
robustness matrix's b50 setting, where training the backbone on one class
collapses the features (docs/ablations.md, "Experiences of one class").
"""

import argparse
import warnings

import numpy as np

from avalanche_featadapt.compare import run_comparison, stats

warnings.filterwarnings("ignore")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--memory-bytes", type=int, default=51200)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=None, help="default: the benchmark's")
    p.add_argument("--protocol", default="b0-5")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    common = dict(
        protocol=args.protocol,
        seeds=args.seeds,
        memory_bytes=args.memory_bytes,
        epochs=args.epochs,
        lr=args.lr,
        quiet=True,
        workers=args.workers,
    )

    rows = run_comparison(
        strategies=["featadapt", "featadapt-noadapt", "naive"], **common
    )
    # the same FA with BatchNorm statistics left live (BatchNormFreezer off),
    # and with one-class experiences trained (OneClassFreezer off), which only
    # differs from FA where an experience has one class
    variants = {"featadapt, BN live": {"freeze_bn": False}}
    if args.protocol != "b0-5":
        one = {"freeze_one_class": False}
        variants["FA, 1-class trained"] = one
        variants["FA, 1-cl., BN live"] = {**one, "freeze_bn": False}
    for label, over in variants.items():
        extra = run_comparison(
            strategies=["featadapt"], overrides={"featadapt": over}, **common
        )
        for r in extra:
            r["strategy"] = label
        rows += extra
    print(
        f"SplitDigits {args.protocol}, memory {args.memory_bytes} B, seeds {args.seeds}"
    )
    print(f"{'strategy':20s} {'final acc %':>14s} {'avg inc acc %':>14s} {'bytes':>8s}")
    for name, s in stats(rows).items():
        f, a = 100 * np.array(s["final"]), 100 * np.array(s["avg_inc"])
        print(
            f"{name:20s} {f.mean():7.1f} ± {f.std():4.1f} {a.mean():7.1f} ± {a.std():4.1f}"
            f" {int(max(s['held'])):8d}   per seed final: {np.round(f, 1).tolist()}"
        )
    print(
        "\nOld-class feature drift after the last experience (probe set, relative L2)"
    )
    for name in ("featadapt", *variants, "featadapt-noadapt"):
        last = max(r["experience"] for r in rows)
        rs = [r for r in rows if r["strategy"] == name and r["experience"] == last]
        est = np.mean([r["drift_estimated_rel_l2"] for r in rs])
        stale = np.mean([r["drift_stale_rel_l2"] for r in rs])
        print(f"{name:20s} believed {est:.3f}   uncompensated {stale:.3f}")


if __name__ == "__main__":  # --workers spawns processes that import this file
    main()

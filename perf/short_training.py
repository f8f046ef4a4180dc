"""The robustness matrix's axis of training length: FA and Replay on the
users' models at about 50, 150 and 500 iterations per experience, at equal
bytes, and whether FA's mean stays within 5 points of its own best along
the axis (docs/results.md, "Short training").

    python perf/short_training.py --models package plain bncnn mlp --seeds 0 1 2

An experience of the Fashion-MNIST subset's 5x2 protocol holds 622 training
images; at ``--batch-size 12`` an epoch is 52 iterations, so 1, 3 and 10
epochs give 52, 156 and 520. Each level's epochs are
``round(iterations / steps per epoch)``, at least 1; the table gives the
iterations run. ``perf/robustness.py``'s cells and references
(``--references``: oracle, perfect and probe) are reused as they are; only
the epochs and the batch size change. A benchmark script, not a test.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from robustness import DATA, FASHION, benchmark, run_cell

#: FA's mean may trail its own best over the axis by this much (points)
WITHIN = 5.0


def steps_per_epoch(data, protocol, batch_size, fashion) -> int:
    """Iterations of one epoch of the first experience."""
    bm = benchmark(data, protocol, 0, fashion)
    return math.ceil(len(bm.train_stream[0].dataset) / batch_size)


def table(results, levels, strategies, seeds) -> str:
    """short_training.md: each model's accuracy at each level, FA's best
    level, and FA's gap to it at each level."""
    head = " | ".join(f"{s}, {it} it." for it in levels for s in strategies)
    lines = [
        "# Short training: final accuracy (%) against iterations per experience",
        "",
        f"Seeds {seeds}; mean ± std. `FA gap`: FA's mean at each level minus its "
        f"best over the levels; **bold** where it trails by more than {WITHIN:g} "
        "points.",
        "",
        f"| model | {head} | FA best | FA gap |",
        "|---|" + "---|" * (len(levels) * len(strategies) + 2),
    ]
    for model, per_level in results.items():
        cells, fa_means = [], {}
        for it in levels:
            for s in strategies:
                v = 100 * np.array([r[s] for r in per_level.get(it, []) if s in r])
                cells.append(f"{v.mean():.1f} ± {v.std():.1f}" if len(v) else "")
                if s == "featadapt" and len(v):
                    fa_means[it] = v.mean()
        if not fa_means:
            lines.append(f"| {model} | " + " | ".join(cells) + " | | |")
            continue
        best = max(fa_means, key=fa_means.get)
        gaps = []
        for it in levels:
            if it in fa_means:
                g = fa_means[it] - fa_means[best]
                gaps.append(f"**{g:+.1f}**" if g < -WITHIN else f"{g:+.1f}")
        lines.append(
            f"| {model} | "
            + " | ".join(cells)
            + f" | {best} it. | "
            + ", ".join(gaps)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["package", "plain", "bncnn", "mlp"])
    p.add_argument("--data", default="fashion", choices=list(DATA))
    p.add_argument("--protocol", default="b0-5")
    p.add_argument("--iterations", nargs="+", type=int, default=[50, 150, 500])
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--strategies", nargs="+", default=["featadapt", "replay"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--references", action="store_true")
    p.add_argument("--fashion", type=Path, default=FASHION)
    p.add_argument("--out", type=Path, default=Path("results/short_training"))
    a = p.parse_args(argv)
    if a.data == "fashion" and not a.fashion.exists():
        p.error(f"{a.fashion} not found: pass --fashion FILE.npz or --data digits")
    warnings.simplefilter("ignore")
    a.out.mkdir(parents=True, exist_ok=True)
    per_epoch = steps_per_epoch(a.data, a.protocol, a.batch_size, a.fashion)
    epochs = {it: max(1, round(it / per_epoch)) for it in a.iterations}
    levels = [epochs[it] * per_epoch for it in a.iterations]
    results = {}
    for model in a.models:
        for it, level in zip(a.iterations, levels):
            for seed in a.seeds:
                acc = run_cell(
                    model,
                    a.data,
                    a.protocol,
                    seed,
                    a.strategies,
                    a.fashion,
                    references=a.references,
                    epochs=epochs[it],
                    batch_size=a.batch_size,
                )
                results.setdefault(model, {}).setdefault(level, []).append(acc)
                shown = {k: round(100 * v, 1) for k, v in acc.items()}
                print(model, a.data, a.protocol, seed, f"it={level}", shown, flush=True)
            (a.out / "short_training.md").write_text(
                table(results, levels, a.strategies, a.seeds)
            )
    print((a.out / "short_training.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The robustness matrix's report: a markdown table (mean ± std over seeds)
and a heatmap of FA minus Replay, from the results of ``perf/robustness.py``.

It also rebuilds both from the logs of several runs, so that cells and
seeds can run as separate processes (one per core) and be merged after:

    python perf/robustness.py --models plain --data digits --seeds 1 > a.log
    python perf/robustness.py --models plain --data digits --seeds 2 > b.log
    python perf/robustness_report.py --out results/robustness a.log b.log

A log line ``model data protocol seed {name: accuracy in %}`` gives some of
one cell and seed's figures (a run with ``--strategies`` and no strategy
gives only the references); where a figure appears twice, the later log's
wins.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import numpy as np

#: the references that follow the strategies' columns (perf/robustness.py)
REFERENCES = ["oracle", "perfect", "probe"]
_ORDER = {
    "model": ["package", "plain", "bncnn", "mlp", "resnet18"],
    "data": ["digits", "fashion"],
    "protocol": ["b0-5", "b50-5"],
}
_LINE = re.compile(r"^(\S+) (digits|fashion) (b0-5|b50-5) (\d+) (\{.*\})$")


def _pm(v):
    v = 100 * np.asarray(v)
    return f"{v.mean():.1f}" + (f" ± {v.std():.1f}" if len(v) > 1 else "")


def report(results, seeds, out: Path, strategies):
    """Write robustness.md and robustness.png to ``out``; ``results`` maps
    (model, data, protocol) to one dict of accuracies (0-1) per seed."""
    cols = list(strategies) + REFERENCES
    cols = [c for c in cols if any(c in s for r in results.values() for s in r)]
    lines = [
        "# Robustness matrix: final accuracy (%)",
        "",
        f"Seeds {seeds} (a row may hold fewer); mean ± std over seeds. `oracle`: FA "
        "with pairs of every old-class image; `perfect`: FA's head retrained on the "
        "final backbone's true features of the images the buffer holds (a perfect "
        "adapter at the same budget); `probe`: logistic regression on FA's final "
        "backbone, all training data.",
        "",
        "| model | data | protocol | seeds | " + " | ".join(cols) + " | FA − noadapt "
        "| FA − Naive |",
        "|---|---|---|---|" + "---|" * (len(cols) + 2),
    ]
    for (m, d, p), per_seed in results.items():
        get = lambda k: [s[k] for s in per_seed if k in s]  # noqa: E731
        cells = [_pm(get(c)) if get(c) else "" for c in cols]
        diff = lambda a, b: (  # noqa: E731
            f"{100 * (np.mean(get(a)) - np.mean(get(b))):+.1f}"
            if get(a) and get(b)
            else ""
        )
        cells += [diff("featadapt", "featadapt-noadapt"), diff("featadapt", "naive")]
        lines.append(
            f"| {m} | {d} | {p} | {len(per_seed)} | " + " | ".join(cells) + " |"
        )
    (out / "robustness.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    heatmap(results, out)


def heatmap(results, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(k[0] for k in results))
    cols = sorted(dict.fromkeys((k[1], k[2]) for k in results), key=_rank_column)
    z = np.full((len(models), len(cols)), np.nan)
    for (m, d, p), per_seed in results.items():
        a = [s["featadapt"] - s["replay"] for s in per_seed if "replay" in s]
        if a:
            z[models.index(m), cols.index((d, p))] = 100 * np.mean(a)
    fig, ax = plt.subplots(figsize=(1.8 * len(cols) + 2, 0.6 * len(models) + 1.5))
    lim = np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1
    im = ax.imshow(z, cmap="RdBu", vmin=-lim, vmax=lim)
    for i in range(len(models)):
        for j in range(len(cols)):
            if np.isfinite(z[i, j]):
                dark = abs(z[i, j]) > 0.6 * lim
                ax.text(
                    j,
                    i,
                    f"{z[i, j]:+.1f}",
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(len(cols)), [f"{d}\n{p}" for d, p in cols])
    ax.set_yticks(range(len(models)), models)
    ax.set_title("FA − Replay, final accuracy\n(points, equal bytes)")
    fig.colorbar(im, ax=ax, label="points")
    fig.tight_layout()
    fig.savefig(out / "robustness.png", dpi=120)
    plt.close(fig)


def _rank(values, kind):
    order = _ORDER[kind]
    return order.index(values) if values in order else len(order)


def _rank_column(col):
    return _rank(col[0], "data"), _rank(col[1], "protocol")


def read_logs(paths):
    """{(model, data, protocol): {seed: {name: accuracy 0-1}}} from logs."""
    cells = {}
    for path in paths:
        for line in Path(path).read_text(errors="replace").splitlines():
            m = _LINE.match(line.strip())
            if m:
                model, data, proto, seed, accs = m.groups()
                per_seed = cells.setdefault((model, data, proto), {})
                named = per_seed.setdefault(int(seed), {})
                named.update({k: v / 100 for k, v in ast.literal_eval(accs).items()})
    return cells


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("logs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=Path("results/robustness"))
    a = p.parse_args(argv)
    missing = [str(f) for f in a.logs if not f.is_file()]
    if missing:
        p.error(f"not found: {', '.join(missing)}; pass the logs of robustness.py")
    cells = read_logs(a.logs)
    if not cells:
        p.error("no result lines in these logs; pass the logs of robustness.py")
    keys = sorted(
        cells, key=lambda k: (_rank(k[0], "model"), *_rank_column(k[1:]), k[0])
    )
    results = {k: [cells[k][s] for s in sorted(cells[k])] for k in keys}
    seeds = sorted({s for per_seed in cells.values() for s in per_seed})
    a.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from robustness import STRATEGIES

    report(results, seeds, a.out, STRATEGIES)
    return 0


if __name__ == "__main__":
    sys.exit(main())

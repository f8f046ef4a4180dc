"""What ``featadapt select`` writes: selection.md (the curves, the choices
and the registry entry to paste), selection.csv (one row per run) and
selection.png (validation accuracy against epochs)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import List

from .results import SELECTION_FIELDS
from .select import GAIN, Selection

__all__ = ["registry_entry", "selection_markdown", "write_selection"]


def registry_entry(sel: Selection) -> str:
    """The keyword arguments to give the benchmark's record in
    ``compare/benchmark_records.py``."""
    best = ", ".join(f'"{n}": {e}' for n, e in sel.best.items())
    lr = f"lr={sel.lr:g},\n" if sel.joint_by_lr else ""
    return (
        f"# BENCHMARKS[{sel.benchmark!r}] in avalanche_featadapt/compare/"
        f"benchmark_records.py\n{lr}epochs={sel.shared},\nbest_epochs={{{best}}},\n"
        f"selection={sel.command!r},"
    )


def _lr_section(sel: Selection, grid) -> List[str]:
    """The shared learning rate: Joint's curve at each rate of --lr-grid."""
    if not sel.joint_by_lr:
        return []
    head = "| learning rate | " + " | ".join(f"{e} ep." for e in grid) + " |"
    lines = [
        "## The shared learning rate: Joint's validation accuracy (%)",
        "",
        head,
        "|---|" + "---|" * len(grid),
    ]
    for lr, curve in sorted(sel.joint_by_lr.items()):
        mark = " (chosen)" if lr == sel.lr else ""
        cells = " | ".join(_cell(curve, e, None) for e in grid)
        lines.append(f"| {lr:g}{mark} | {cells} |")
    return lines + [
        "",
        f"Chosen: {sel.lr:g}, where Joint is most accurate at {grid[-1]} epochs, the "
        "grid's largest; every run below trains at it.",
        "",
    ]


def _verdict(sel: Selection) -> str:
    joint = sel.curves["joint"]
    grid = sorted(joint)
    if not sel.converged:
        return (
            f"Joint has NOT converged within the grid: from every value below "
            f"{grid[-1]} epochs, a larger one gains {100 * GAIN:.0f} point or more. The "
            f"shared budget is the grid's end, {sel.shared} epochs; extend "
            "--epochs-grid (e.g. add its double) and run again."
        )
    later = grid[grid.index(sel.shared) + 1 :]
    g = 100 * (max(joint[e] for e in later) - joint[sel.shared])
    return (
        f"Shared budget: {sel.shared} epochs, where Joint has converged: no "
        f"larger value of the grid gains more than {g:+.1f} points (less than "
        f"{100 * GAIN:.0f})."
    )


def selection_markdown(sel: Selection, settings: str = "") -> str:
    """selection.md: Joint's curve and the rule, every strategy's curve of
    validation average incremental accuracy and its best, the entry."""
    grid = sorted({e for c in sel.curves.values() for e in c})
    head = "| strategy | " + " | ".join(f"{e} ep." for e in grid) + " | best |"
    sep = "|---|" + "---|" * (len(grid) + 1)
    lines = ["# Training budgets chosen on validation data", ""]
    if settings:
        lines += [f"Settings: {settings}", ""]
    lines += [
        f"Command: `{sel.command}`",
        "",
        "Trained on the training data less a held-out validation split, "
        "evaluated on that split only: the test set is not used.",
        "",
        *_lr_section(sel, grid),
        "## The shared budget: Joint's validation accuracy (%)",
        "",
        head.replace("| best |", "| shared |"),
        sep,
        "| joint | "
        + " | ".join(_cell(sel.curves["joint"], e, sel.shared) for e in grid)
        + f" | {sel.shared} |",
        "",
        _verdict(sel),
        "",
        "## Each at its best: validation average incremental accuracy (%)",
        "",
        "Mean over the steps of the accuracy on all classes seen so far (the "
        "first step included), over seeds and budgets; **bold**: the best.",
        "",
        head,
        sep,
    ]
    for n, e in sel.best.items():
        cells = " | ".join(_cell(sel.curves[n], x, e) for x in grid)
        lines.append(f"| {n} | {cells} | {e} |")
    lines += [
        "",
        "## To record",
        "",
        "```",
        registry_entry(sel),
        "```",
    ]
    return "\n".join(lines) + "\n"


def _cell(curve, e, chosen) -> str:
    if e not in curve:
        return ""
    v = f"{100 * curve[e]:.1f}"
    return f"**{v}**" if e == chosen else v


def _csv_rows(sel: Selection) -> List[dict]:
    from .statistics import stats

    keys = sorted(
        {(r["strategy"], r["epochs"], r["seed"], r["memory_bytes"]) for r in sel.rows},
        key=lambda k: (list(sel.curves).index(k[0]), k[1], k[2], k[3]),
    )
    out = []
    for name, e, seed, b in keys:
        at = [
            r
            for r in sel.rows
            if (r["strategy"], r["epochs"], r["seed"]) == (name, e, seed)
            and r["memory_bytes"] == b
        ]
        s = stats(at)[name]
        out.append(
            dict(
                strategy=name,
                epochs=e,
                seed=seed,
                memory_bytes=b,
                val_avg_inc=s["avg_inc"][0],
                val_final=s["final"][0],
            )
        )
    return out


def plot_selection(sel: Selection, path: Path) -> None:
    """Validation accuracy against epochs (log 2 axis), one line per
    strategy in its registry colour, Joint dashed; a star at each best and
    a dotted line at the shared budget."""
    from .plots import COLORS, _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    for name, curve in sel.curves.items():
        xs = sorted(curve)
        ys = [100 * curve[x] for x in xs]
        joint = name == "joint"
        label = "joint (accuracy)" if joint else name
        ax.plot(xs, ys, "--o" if joint else "-o", color=COLORS.get(name), label=label)
        if not joint:
            b = sel.best[name]
            ax.plot([b], [100 * curve[b]], "*", color=COLORS.get(name), ms=14)
    ax.axvline(sel.shared, ls=":", color="k", label=f"shared: {sel.shared} epochs")
    grid = sorted({e for c in sel.curves.values() for e in c})
    ax.set_xscale("log", base=2)
    ax.set_xticks(grid)
    ax.set_xticklabels([str(e) for e in grid])
    ax.minorticks_off()
    ax.set_xlabel("epochs per experience (log scale)")
    ax.set_ylabel("validation average incremental accuracy (%)")
    ax.set_title(f"{sel.benchmark}: validation accuracy against epochs (* = best)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_selection(sel: Selection, out: Path, settings: str = "") -> List[Path]:
    """selection.md, selection.csv and selection.png into ``out`` (created);
    returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    md, table, png = out / "selection.md", out / "selection.csv", out / "selection.png"
    md.write_text(selection_markdown(sel, settings))
    with open(table, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SELECTION_FIELDS)
        w.writeheader()
        w.writerows(_csv_rows(sel))
    plot_selection(sel, png)
    return [md, table, png]

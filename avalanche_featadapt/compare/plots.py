"""The comparison's figures, one function each; colours from the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from .registry import STRATEGIES
from .results import drift_field
from .statistics import budgets_of, crossings, fmt_bytes, stats
from .trainings import by_training

__all__ = [
    "COLORS",
    "plot_accuracy_per_experience",
    "plot_accuracy_vs_memory",
    "plot_all",
    "plot_drift",
]

#: one colour per strategy, the same in every plot (from the registry)
COLORS = {name: spec.color for name, spec in STRATEGIES.items()}
_EST = drift_field("estimated_rel_l2")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _mean_std(rows, name, key="accuracy"):
    xs = sorted({r["experience"] for r in rows if r["strategy"] == name})
    v = [
        [r[key] for r in rows if r["strategy"] == name and r["experience"] == x]
        for x in xs
    ]
    return (
        np.array(xs),
        np.array([np.mean(a) for a in v]),
        np.array([np.std(a) for a in v]),
    )


def _over_seeds(rows) -> str:
    """What the curves and bands show: "mean ± std over N seeds", or "one
    seed" (no band) when the rows hold a single seed."""
    n = len({r["seed"] for r in rows})
    return "one seed" if n == 1 else f"mean ± std over {n} seeds"


def _drift_label(names) -> str:
    """The drift plot's y-label, naming how each method present is measured."""
    how = {STRATEGIES[n].builder.drift for n in names if n in STRATEGIES}
    parts = sorted(how - {""})  # each record's builder says how
    return "relative L2 error vs true new features" + (
        f"\n({'; '.join(parts)})" if parts else ""
    )


def plot_accuracy_per_experience(rows: List[Dict], path: Path) -> None:
    """Accuracy on the classes seen so far after each experience, one panel
    per budget, mean ± std over seeds (the title says "one seed" when there
    is one)."""
    plt = _plt()
    budgets = budgets_of(rows)
    fig, axes = plt.subplots(
        1, len(budgets), figsize=(4.2 * len(budgets) + 1.5, 4.2), squeeze=False
    )
    for ax, b in zip(axes[0], budgets):
        at = [r for r in rows if r["memory_bytes"] == b]
        for name in dict.fromkeys(r["strategy"] for r in at):
            xs, m, sd = _mean_std(at, name)
            if name == "joint":
                ax.axhline(100 * m[-1], ls="--", c="grey", label="joint (upper bound)")
                continue
            ax.plot(
                xs + 1,
                100 * m,
                "-o",
                color=COLORS.get(name),
                label=name,
                lw=2.5 if name == "featadapt" else 1.3,
                ms=3,
            )
            ax.fill_between(
                xs + 1,
                100 * (m - sd),
                100 * (m + sd),
                color=COLORS.get(name),
                alpha=0.12,
            )
        ax.set_title(f"budget {fmt_bytes(b)}")
        ax.set_xlabel("experience")
        ax.set_xticks(range(1, max(r["experience"] for r in at) + 2))
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy on classes seen so far (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.suptitle(f"Accuracy after each experience ({_over_seeds(rows)})")
    fig.tight_layout(rect=(0, 0, 1 - 1.4 / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_memory(rows: List[Dict], path: Path) -> List[str]:
    """Average incremental accuracy (left, the headline) and final accuracy
    (right) against the budget: one curve per strategy with a budget-sized
    memory (mean ± std band), a dashed level for the others, a log x axis in
    KB/MB, and a dotted line where FA's curve crosses Replay's. Names are in
    a legend beside the axes, so no label overlaps another or a curve;
    returns the legend's labels."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13.5, 4.8))
    for ax, key in zip(axes, ("avg_inc", "final")):
        _accuracy_vs_memory(ax, rows, key)
    named = {}  # the panels' labels, each once (a crossing may differ)
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            named.setdefault(lab, h)
    legend = axes[1].legend(
        named.values(),
        named.keys(),
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    fig.suptitle(f"Accuracy against memory ({_over_seeds(rows)})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [t.get_text() for t in legend.get_texts()]


def _accuracy_vs_memory(ax, rows: List[Dict], key: str) -> None:
    budgets = budgets_of(rows)
    per = {b: stats(rows, b) for b in budgets}
    for name in dict.fromkeys(r["strategy"] for r in rows):
        c = COLORS.get(name)
        if name == "joint" and key == "avg_inc":  # one step: its final accuracy
            key_of = "final"
        else:
            key_of = key
        if STRATEGIES[name].uses_budget and len(budgets) > 1:
            xs = [b for b in budgets if name in per[b]]
            m = np.array([100 * np.mean(per[b][name][key_of]) for b in xs])
            sd = np.array([100 * np.std(per[b][name][key_of]) for b in xs])
            ax.plot(
                xs,
                m,
                "-o",
                color=c,
                label=name,
                ms=4,
                lw=2.5 if name == "featadapt" else 1.5,
            )
            ax.fill_between(xs, m - sd, m + sd, color=c, alpha=0.15)
        else:
            b = budgets[0]
            m = 100 * np.mean(per[b][name][key_of])
            kept = int(np.max(per[b][name]["held"]))
            what = "no memory" if kept == 0 else f"holds {fmt_bytes(kept)}"
            if len(budgets) > 1:
                ax.axhline(m, ls="--", color=c, lw=1, label=f"{name} ({what})")
            else:
                ax.plot([b], [m], "o", color=c, label=f"{name} ({what})")
    got = crossings(rows, "featadapt", "replay", key)
    for lo, hi, at, who in got[2] if got else []:
        ax.axvline(
            at,
            ls=":",
            color="k",
            lw=1,
            label=f"FA and Replay cross near {fmt_bytes(at)} ({who} above; "
            f"{'avg. inc.' if key == 'avg_inc' else 'final'})",
        )
    ax.set_xscale("log")
    ax.set_xticks(budgets)
    ax.set_xticklabels([fmt_bytes(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel(
        "memory budget (log scale; 1 KB = 1,000 bytes, images at 8 bits/pixel)"
    )
    what = "average incremental" if key == "avg_inc" else "final"
    ax.set_ylabel(f"{what} accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.set_title(
        f"{what[0].upper() + what[1:]} accuracy"
        + (" (joint: final)" if key == "avg_inc" else "")
    )


def plot_drift(rows: List[Dict], path: Path) -> List[str]:
    """Relative L2 error of the old-class features each method believes
    (solid) and, for methods that compensate, the uncompensated estimate of
    the same run (dashed), at the largest budget; every strategy of the
    summary's drift table. Returns the legend's labels (none, and no file,
    without drift rows)."""
    b = budgets_of(rows)[-1]
    drift = [
        r for r in rows if r["memory_bytes"] == b and not np.isnan(r.get(_EST, np.nan))
    ]
    if not drift:
        return []
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name in dict.fromkeys(r["strategy"] for r in drift):
        xs, est, _ = _mean_std(drift, name, _EST)
        _, stale, _ = _mean_std(drift, name, drift_field("stale_rel_l2"))
        c = COLORS.get(name)
        same = np.allclose(est, stale)  # no compensation: belief = stale
        ax.plot(
            xs + 1,
            est,
            "-o" if not same else "-s",
            color=c,
            ms=4,
            label=f"{name}: believed" + (" (= uncompensated)" if same else ""),
        )
        if not same:
            ax.plot(xs + 1, stale, "--", color=c, label=f"{name}: uncompensated")
    ax.set_xticks(range(2, max(r["experience"] for r in rows) + 2))
    ax.set_xlabel("experience")
    ax.set_ylabel(_drift_label({r["strategy"] for r in drift}))
    ax.set_title(
        f"Error of the old-class features each method believes "
        f"(probe set, budget {fmt_bytes(b)})"
    )
    ax.grid(alpha=0.3)
    legend = ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [t.get_text() for t in legend.get_texts()]


def plot_all(rows: List[Dict], out: Path) -> List[Path]:
    """Every figure into ``out``; returns the files written. Rows of both
    trainings: the figures of "each at its best" under the usual names,
    those of "at the shared budget" with ``_shared`` added."""
    out = Path(out)
    written: List[Path] = []
    parts = by_training(rows)
    for training, _, rs in parts:
        end = "_shared.png" if len(parts) > 1 and training == "shared" else ".png"
        files = [
            out / f"accuracy_per_experience{end}",
            out / f"accuracy_vs_memory{end}",
        ]
        plot_accuracy_per_experience(rs, files[0])
        plot_accuracy_vs_memory(rs, files[1])
        if plot_drift(rs, out / f"drift{end}"):
            files.append(out / f"drift{end}")
        written += files
    return written

"""summary.md's section of one training budget (shared, or each at its
best): the headline, average incremental accuracy, then final accuracy."""

from __future__ import annotations

from typing import List

from .report import _MEASURES, _budget_table, _pm, budgets_of, crossover
from .report import fmt_bytes, stats
from .trainings import epochs_line

__all__ = ["against_memory", "training_section"]


def against_memory(rows, names, budgets, h) -> List[str]:
    """Average incremental and final accuracy against the budget, each with
    its crossovers."""
    per = {b: stats(rows, b) for b in budgets}
    lines: List[str] = []
    for key, what in _MEASURES:
        lines += [
            "",
            f"{h} {what[0].upper() + what[1:]} (%) against the memory budget",
            "",
            "| strategy | " + " | ".join(fmt_bytes(b) for b in budgets) + " |",
            "|---|" + "---|" * len(budgets),
        ]
        for n in names:
            skip = n == "joint" and key == "avg_inc"  # one step: not incremental
            cells = [
                "—" if skip else _pm(per[b][n][key]) if n in per[b] else ""
                for b in budgets
            ]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        cross = [
            crossover(rows, a, b, key)
            for a in names
            if a.startswith("featadapt") and a != "featadapt-noadapt"
            for b in ("replay", "icarl")
        ]
        cross = [c for c in cross if c]
        if cross and len(budgets) > 1:
            lines += ["", f"Crossovers (mean {what}):", ""]
            lines += [f"- {c}" for c in cross]
    return lines


def training_section(rows, one_seed, h) -> List[str]:
    """The tables of one training budget's rows, at heading level ``h``:
    accuracy against memory with the crossovers, one section per budget,
    whether every strategy learns."""
    budgets = budgets_of(rows)
    names = list(dict.fromkeys(r["strategy"] for r in rows))
    ep = epochs_line(rows)
    lines = ["", ep] if ep else []
    lines += against_memory(rows, names, budgets, h)
    lines += [
        "",
        "Strategies without a budget-sized memory (naive, joint, lwf, SDC's "
        "prototypes) run once per seed; their rows repeat at every budget.",
    ]
    for b in budgets:
        lines += ["", f"{h} Budget {b:,} bytes ({fmt_bytes(b)})", ""]
        lines += _budget_table(rows, b, one_seed)
    st = stats(rows, budgets[-1])
    lines += [
        "",
        f"{h} Does every strategy learn each experience?",
        "",
        "Lowest accuracy on the newest classes right after learning them "
        f"(budget {fmt_bytes(budgets[-1])}): "
        + ", ".join(
            f"{n} {100 * min(s['min_new']):.0f}%" for n, s in st.items() if n != "joint"
        )
        + ".",
    ]
    stalled = [n for n, s in st.items() if n != "joint" and min(s["min_new"]) < 0.5]
    if stalled:
        lines.append(f"\nWARNING: below 50 % for {stalled}: they may not be learning.")
    return lines

"""summary.md's section of one training budget (shared, or each at its
best): the headline, average incremental accuracy, then final accuracy; then
the tables of each memory budget (orderings per seed, drift)."""

from __future__ import annotations

from typing import Dict, List

import numpy as np

from .registry import STRATEGIES
from .results import DRIFT_KEYS, drift_field
from .statistics import _MEASURES, _pm, budgets_of, crossover, fmt_bytes, stats
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
        "prototypes) run once per seed; their rows repeat at every budget. So "
        "do those of a budget that already holds every training sample of "
        "every class (e.g. FA's features), at every larger budget.",
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


def _budget_table(rows, budget, one_seed) -> List[str]:
    st = stats(rows, budget)
    lines = [
        "| strategy | avg incremental acc (%) | final acc (%) | forgetting (%) "
        "| bytes held | wall time (s) | CPU time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in st.items():
        avg = "—" if name == "joint" else _pm(s["avg_inc"])
        lines.append(
            f"| {name} | {avg} | {_pm(s['final'])} | {_pm(s['forgetting'])} "
            f"| {int(np.max(s['held'])):,} | {_pm(s['wall'], pct=False)} "
            f"| {_pm(s['cpu'], pct=False)} |"
        )
    at = [r for r in rows if r["memory_bytes"] == budget]
    n_exp = max(r["experience"] for r in at) + 1
    lines += [
        "",
        "After each experience (mean over seeds; most bytes held):",
        "",
        "| strategy | " + " | ".join(f"exp {i + 1}" for i in range(n_exp)) + " |",
        "|---|" + "---|" * n_exp,
    ]
    for name in st:
        cells = []
        for i in range(n_exp):
            rs = [r for r in at if r["strategy"] == name and r["experience"] == i]
            acc = 100 * np.mean([r["accuracy"] for r in rs]) if rs else None
            held = int(max(r["held_bytes"] for r in rs)) if rs else 0
            cells.append(f"{acc:.1f} % ({held:,} B)" if rs else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for key, what in _MEASURES:
        lines += ["", f"Orderings ({what}, per seed):", ""]
        if one_seed:
            lines.append(
                "- One seed only: orderings need >= 2 seeds, to tell a difference "
                "from the spread between runs; run with e.g. --seeds 0 1 2."
            )
            break
        for a, spec in STRATEGIES.items():
            for b, title in spec.versus:
                if a in st and b in st:  # on the seeds both have
                    d = np.asarray(_paired(st[a], st[b], key))
                    lines.append(
                        f"- {title}: {a} − {b} = {100 * d.mean():+.1f} points "
                        f"(per seed: {', '.join(f'{100 * x:+.1f}' for x in d)}; "
                        f"{a} ahead on {int((d > 0).sum())}/{len(d)} seeds)"
                    )
    return lines + _drift_table(at)


def _paired(a: Dict, b: Dict, key: str) -> List[float]:
    """``a[key] - b[key]`` seed by seed, on the seeds both have."""
    va, vb = dict(zip(a["seeds"], a[key])), dict(zip(b["seeds"], b[key]))
    return [va[s] - vb[s] for s in a["seeds"] if s in vb]


def _drift_table(rows) -> List[str]:
    col = drift_field("estimated_rel_l2")
    drift = [r for r in rows if not np.isnan(r.get(col, np.nan))]
    if not drift:
        return []
    last = max(r["experience"] for r in drift)
    names = dict.fromkeys(r["strategy"] for r in drift)
    how = [STRATEGIES[n].builder.drift for n in names if n in STRATEGIES]
    lines = [
        "",
        "Drift of old-class features after the last experience (probe set; "
        + "; ".join(dict.fromkeys(h for h in how if h))
        + "):",
        "",
        "| strategy | believed: rel. L2 error | uncompensated: rel. L2 error "
        "| believed: cosine | uncompensated: cosine |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["strategy"] for r in drift):
        rs = [r for r in drift if r["strategy"] == name and r["experience"] == last]
        cells = [
            _pm([r[drift_field(k)] for r in rs], pct=False, digits=3)
            for k in DRIFT_KEYS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines

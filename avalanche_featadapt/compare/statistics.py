"""Statistics over seeds and the crossover of accuracy-versus-memory curves,
read by summary.md (:mod:`~avalanche_featadapt.compare.report`), the plots
and summary.json. The headline measure is the paper's average incremental
accuracy (``avg_inc``: the mean over the steps of the accuracy on all
classes seen so far, the first step included); final accuracy follows."""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

__all__ = ["budgets_of", "crossings", "crossover", "fmt_bytes", "stats"]

_KEYS = ("final", "avg_inc", "forgetting", "held", "wall", "cpu", "min_new")
#: the measures of the summary's tables, crossovers and orderings, headline first
_MEASURES = (("avg_inc", "average incremental accuracy"), ("final", "final accuracy"))


def budgets_of(rows: List[Dict]) -> List[int]:
    """The budgets of ``rows``, ascending."""
    return sorted({r.get("memory_bytes") for r in rows}, key=lambda b: b or 0)


def stats(rows: List[Dict], budget: Optional[int] = None) -> Dict[str, Dict]:
    """Per strategy, over seeds, at one budget: final and average incremental
    accuracy, final forgetting, most memory bytes held, total wall and CPU
    time (one torch thread per run: the CPU time is the wall time on an idle
    core),
    lowest accuracy on the newest classes; each a list over ``seeds`` (in
    that order; a seed whose run failed is missing).

    :param budget: which budget's rows; may be left out when ``rows`` have
        only one.
    """
    budgets = budgets_of(rows)
    if budget is None:
        if len(budgets) > 1:
            raise ValueError(f"rows have budgets {budgets}; pass budget=.")
    else:
        rows = [r for r in rows if r.get("memory_bytes") == budget]
    out = {}
    for name in dict.fromkeys(r["strategy"] for r in rows):
        per_seed: Dict = {}
        for r in rows:
            if r["strategy"] == name:
                per_seed.setdefault(r["seed"], []).append(r)
        s: Dict[str, list] = {k: [] for k in _KEYS}
        s["seeds"] = sorted(per_seed)
        for _, rs in sorted(per_seed.items()):
            rs = sorted(rs, key=lambda r: r["experience"])
            s["final"].append(rs[-1]["accuracy"])
            s["avg_inc"].append(float(np.mean([r["accuracy"] for r in rs])))
            s["forgetting"].append(rs[-1]["forgetting"])
            s["held"].append(max(r["held_bytes"] for r in rs))
            s["wall"].append(rs[-1]["wall_time_s"])
            s["cpu"].append(rs[-1].get("cpu_time_s", float("nan")))
            s["min_new"].append(min(r["new_accuracy"] for r in rs))
        out[name] = s
    return out


def fmt_bytes(b) -> str:
    """12800 -> '12.8 KB', 1568000 -> '1.57 MB' (1 KB = 1,000 bytes)."""
    for unit, f in (("MB", 1e6), ("KB", 1e3)):
        if b >= f:
            v = b / f
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{int(b)} B"


def _pm(v, pct=True, digits=1):
    """mean ± std over seeds; one seed: the value alone (no spread)."""
    v = np.asarray(v, dtype=float)
    f = 100 if pct else 1
    if len(v) < 2:
        return f"{f * v.mean():.{digits}f}"
    return f"{f * v.mean():.{digits}f} ± {f * v.std():.{digits}f}"


def crossings(rows: List[Dict], a: str, b: str, key: str = "final"):
    """(budgets, differences, crossings) of ``a``'s mean ``key`` accuracy
    ("final" or "avg_inc") minus ``b``'s at each budget; a crossing is
    (lower budget, upper budget, log-linear estimate of where the curves
    cross, who leads above it). None if either strategy is missing."""
    budgets = budgets_of(rows)
    d = []
    for x in budgets:
        st = stats(rows, x)
        if a not in st or b not in st:
            return None
        d.append(float(np.mean(st[a][key]) - np.mean(st[b][key])))
    found = []
    for i in range(len(d) - 1):
        if (d[i] > 0) != (d[i + 1] > 0):
            lo, hi = budgets[i], budgets[i + 1]
            t = d[i] / (d[i] - d[i + 1])
            at = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
            found.append((lo, hi, at, a if d[i + 1] > 0 else b))
    return budgets, d, found


def crossover(rows: List[Dict], a: str, b: str, key: str = "final") -> Optional[str]:
    """Where ``a``'s curve of mean ``key`` accuracy ("final" or "avg_inc")
    against budget crosses ``b``'s, in words (None if either is missing)."""
    got = crossings(rows, a, b, key)
    if got is None:
        return None
    budgets, d, found = got
    lo, hi = fmt_bytes(budgets[0]), fmt_bytes(budgets[-1])
    if all(v > 0 for v in d):
        return f"{a} is ahead of {b} at every budget from {lo} to {hi}."
    if all(v <= 0 for v in d):
        return f"{a} never overtakes {b} between {lo} and {hi}."
    parts = [
        f"{who} takes the lead between {fmt_bytes(lo)} and {fmt_bytes(hi)} "
        f"(curves cross near {fmt_bytes(at)})"
        for lo, hi, at, who in found
    ]
    ahead = [fmt_bytes(x) for x, v in zip(budgets, d) if v > 0]
    return f"{a} is ahead of {b} at {', '.join(ahead)}; " + "; ".join(parts) + "."

"""Statistics over seeds, the crossover of accuracy-versus-memory curves, and
summary.md. The headline measure is the paper's average incremental
accuracy (``avg_inc``: the mean over the steps of the accuracy on all
classes seen so far, the first step included); final accuracy follows."""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

from .registry import STRATEGIES
from .results import DRIFT_KEYS, drift_field
from .trainings import by_training

__all__ = ["crossings", "crossover", "fmt_bytes", "stats", "summarize"]

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
    lines = [
        "",
        "Drift of old-class features after the last experience (probe set; FA: "
        "per stored feature, SDC: per class prototype):",
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


def base_line(names, shared: bool) -> str:
    """One line: which of ``names`` started from the shared base model of
    the first experience, and which trained it themselves."""
    share = [n for n in names if STRATEGIES[n].shares_base]
    own = [n for n in names if not STRATEGIES[n].shares_base]
    if not shared:
        return "First experience: every strategy trained its own (no base cache)."
    parts = []
    if share:
        parts.append(
            f"from the shared base model, one per seed: {', '.join(share)} (a "
            "run that found it cached has no first-experience training time)"
        )
    if own:
        parts.append(f"trained by each itself: {', '.join(own)}")
    return "First experience: " + "; ".join(parts) + "."


def summarize(
    rows: List[Dict], settings: str = "", failures=(), shared_base=None, notes=()
) -> str:
    """The markdown summary, per training ("each at its best" first, then
    "at the shared budget", when ``rows`` have both): average incremental and
    final accuracy against memory with the crossovers, then one section per
    budget (mean ± std over seeds; no spread with one seed), drift; then the
    failed runs if any.

    :param shared_base: whether the comparison shared the first
        experience's base model (:func:`base_line`); None (e.g. rewritten
        from a results.csv): not said.
    :param notes: lines on the training budgets.
    """
    one_seed = len({r["seed"] for r in rows}) < 2
    names = list(dict.fromkeys(r["strategy"] for r in rows))
    lines = ["# Comparison summary", ""]
    if settings:
        lines += [f"Settings: {settings}", ""]
    lines += [f"{n}" for n in notes] + ([""] if notes else [])
    if shared_base is not None:
        lines += [base_line(names, shared_base), ""]
    if one_seed:
        lines += ["One seed: values are that run's, with no spread.", ""]
    lines.append(
        "Headline: average incremental accuracy, the mean over the steps of the "
        "accuracy on all classes seen so far, the first step included (Iscen et "
        "al.'s measure); final accuracy after it."
    )
    from .sections import training_section

    parts = by_training(rows)
    for training, title, rs in parts:
        if len(parts) > 1:
            lines += ["", f"## {title}"]
        lines += training_section(rs, one_seed, "###" if len(parts) > 1 else "##")
    lines += [
        "",
        "Accuracies are Avalanche's `Top1_Acc_Stream` on the test data of the "
        "classes seen so far; forgetting is Avalanche's `StreamForgetting`; "
        "memory is the most bytes the strategy held (`MemoryBytes`: images at 8 "
        "bits per pixel, features at their dtype). Joint trains once on all data "
        "(its memory is the whole training set; no average incremental accuracy).",
    ]
    if failures:
        lines += ["", "## Failed runs", ""] + [f"- {f}" for f in failures]
    return "\n".join(lines) + "\n"

"""Statistics over seeds, the crossover of accuracy-versus-memory curves, and
summary.md. The headline measure is the paper's average incremental
accuracy (``avg_inc``: the mean over the steps of the accuracy on all
classes seen so far, the first step included); final accuracy follows."""

from __future__ import annotations

from typing import Dict, List

from .registry import STRATEGIES
from .sections import training_section
from .statistics import crossings, crossover, fmt_bytes, stats
from .trainings import by_training

__all__ = ["crossings", "crossover", "fmt_bytes", "stats", "summarize"]


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

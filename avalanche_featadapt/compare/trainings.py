"""The two training budgets of the comparison (docs/comparison.md, "Training
budgets chosen on validation data"): every strategy at the benchmark's
**shared** epochs, and **each at its best**, the epochs ``featadapt
select`` chose for it on validation data and the registry records."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .registry import BenchmarkSpec

__all__ = ["TRAININGS", "by_training", "epochs_line", "epochs_plan"]

#: results.csv's ``training`` values, the headline first
TRAININGS = ("best", "shared")
_TITLES = {"best": "Each at its best", "shared": "At the shared budget"}


def epochs_plan(
    spec: BenchmarkSpec, strategies, training: str = "both", epochs=None
) -> Tuple[Dict[str, Dict[int, Tuple[str, ...]]], List[str]]:
    """(plan, notes): ``plan[strategy][epochs]`` is the trainings
    ("shared", "best") one run at those epochs serves; notes say what was
    left out and why.

    :param training: "shared", "best" or "both".
    :param epochs: the user's ``--epochs``: every strategy trains for it,
        as the only ("shared") training.
    :raises ValueError: for ``training="best"`` without a recorded
        selection, or an unknown ``training``.
    """
    if training not in ("shared", "best", "both"):
        raise ValueError(f"--training must be shared, best or both, got {training!r}.")
    if epochs is not None:
        note = f"--epochs {epochs} given: every strategy trains for it"
        if training != "shared":
            note += " (no 'each at its best' runs)"
        return {n: {epochs: ("shared",)} for n in strategies}, [note + "."]
    if not spec.selected:
        if training == "best":
            raise ValueError(
                f"No selection recorded for {spec.name}: run `featadapt select "
                f"--benchmark {spec.name}` and record its values in "
                "avalanche_featadapt/compare/benchmark_records.py, or pass --training shared."
            )
        plan = {n: {spec.epochs: ("shared",)} for n in strategies}
        return plan, [f"{spec.name}: {spec.selection_note()}."]
    notes = [f"Epochs of {spec.name}: {spec.selection_note()}."]
    plan: Dict[str, Dict[int, Tuple[str, ...]]] = {}
    missing = []
    for n in strategies:
        runs: Dict[int, Tuple[str, ...]] = {}
        if training in ("shared", "both"):
            runs[spec.epochs] = ("shared",)
        if training in ("best", "both"):
            best = spec.best_epochs.get(n)
            if best is None and n != "joint":
                missing.append(n)
            e = spec.epochs if best is None else best
            runs[e] = runs.get(e, ()) + ("best",)
        plan[n] = runs
    if missing:
        notes.append(
            f"No best epochs recorded for {missing}: at their best they run at "
            f"the shared {spec.epochs} epochs."
        )
    return plan, notes


def by_training(rows: List[Dict]) -> List[Tuple[Optional[str], str, List[Dict]]]:
    """(training, title, its rows) for each training in ``rows``, the
    headline first; one (None, "", rows) for rows without a ``training``
    (a results.csv from before it had that column)."""
    present = {r.get("training") for r in rows}
    if present <= {None, ""}:
        return [(None, "", rows)]
    return [
        (t, _TITLES[t], [r for r in rows if r.get("training") == t])
        for t in TRAININGS
        if t in present
    ]


def epochs_line(rows: List[Dict]) -> str:
    """'Epochs: naive 10, featadapt 16, ...' from the rows' ``epochs``; ""
    when they have none."""
    got: Dict[str, set] = {}
    for r in rows:
        if r.get("epochs") not in (None, ""):
            got.setdefault(r["strategy"], set()).add(int(r["epochs"]))
    if not got:
        return ""
    parts = [f"{n} {'/'.join(map(str, sorted(e)))}" for n, e in got.items()]
    return "Epochs: " + ", ".join(parts) + "."

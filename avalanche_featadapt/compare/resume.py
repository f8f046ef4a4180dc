"""A comparison's folder: the settings that define the comparison
(recorded in ``comparison.json`` beside results.csv), and what a re-run of
the same comparison keeps: every run whose rows are all in results.csv
(:mod:`~avalanche_featadapt.compare.results`, which reads a results.csv of
an older version with today's column names). A run's rows are appended in one write when it finishes, so a
run stopped half-way has none, and runs again whole (docs/comparison.md,
"Interrupting and resuming")."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .results import OUTPUTS, RESULTS, complete_rows

__all__ = ["RECORD", "clean_logs", "finished", "prepare", "read_record"]

#: the settings of the comparison that wrote a folder
RECORD = "comparison.json"
_FORCE = "pass --force (resume=False in Python) to replace them"


def row_key(r: Dict) -> tuple:
    """What tells a row of results.csv from every other row."""
    keys = ("strategy", "seed", "memory_bytes", "training", "epochs", "experience")
    return tuple(r[k] for k in keys)


def finished(path: Path, expected: Sequence[Sequence[tuple]]) -> Dict[int, List]:
    """Run index -> its rows, for every run whose ``expected`` row keys
    (:func:`row_key`, in the run's order) are all in results.csv at ``path``."""
    by_key = {row_key(r): r for r in complete_rows(path)}
    return {
        i: [by_key[k] for k in keys]
        for i, keys in enumerate(expected)
        if keys and all(k in by_key for k in keys)
    }


def read_record(folder) -> Optional[dict]:
    """The record of the comparison that wrote ``folder``; None if it has
    none or it cannot be read."""
    try:
        record = json.loads((Path(folder) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "settings" in record else None


def normalized(settings: dict) -> dict:
    """``settings`` as they read back from JSON (tuples as lists, keys as
    text; what JSON cannot hold as its ``repr``)."""
    return json.loads(json.dumps(settings, default=repr))


def _differences(old: dict, new: dict) -> str:
    def short(v):
        s = json.dumps(v)
        return s if len(s) <= 120 else s[:117] + "..."

    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    return "; ".join(
        f"{k}: {short(old.get(k))} there, {short(new.get(k))} now" for k in keys
    )


def prepare(out: Path, settings: dict, *, resume: bool, version: str) -> bool:
    """Make ``out`` ready for the comparison of ``settings`` and record
    them. ``resume``: a folder that holds the same comparison keeps its
    results.csv (True is returned); one that holds another's, or results of
    unrecorded settings, is refused with a ValueError before anything
    changes. Otherwise (``resume=False``, or nothing there) the previous
    outputs, logs/ and record are removed (base_models/ is kept)."""
    settings = normalized(settings)
    present = [f for f in OUTPUTS if (out / f).exists()]
    record = read_record(out)
    keep = False
    if resume and (record is not None or present):
        if record is None:
            raise ValueError(
                f"--out {out} holds {', '.join(present)} of a comparison whose "
                f"settings were not recorded ({RECORD} is missing or unreadable); "
                f"choose another --out, or {_FORCE}."
            )
        diff = _differences(record["settings"], settings)
        if diff:
            raise ValueError(
                f"--out {out} holds another comparison's results ({diff}); run "
                f"the command that made them to resume it, choose another --out, "
                f"or {_FORCE}."
            )
        keep = True
    out.mkdir(parents=True, exist_ok=True)
    for f in OUTPUTS:
        if not (keep and f == RESULTS):
            (out / f).unlink(missing_ok=True)
    if not keep:
        shutil.rmtree(out / "logs", ignore_errors=True)
        record = {"format": 1, "package_version": version, "settings": settings}
        tmp = out / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, out / RECORD)
    return keep


def clean_logs(out: Path, keep: Sequence[str]) -> None:
    """Remove every run's log folder in ``out/logs`` but those named in
    ``keep`` (a run stopped half-way left a partial one)."""
    logs = out / "logs"
    if logs.is_dir():
        for d in logs.iterdir():
            if d.name not in keep:
                shutil.rmtree(d) if d.is_dir() else d.unlink()

"""A comparison's folder: results.csv and its columns, the settings that
define the comparison (recorded in ``comparison.json`` beside it), and what a
re-run of the same comparison keeps: every run whose rows are all in
results.csv. A run's rows are appended in one write when it finishes, so a
run stopped half-way has none, and runs again whole (docs/comparison.md,
"Interrupting and resuming")."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

__all__ = [
    "CSV_FIELDS",
    "OUTPUTS",
    "RECORD",
    "TEXT_FIELDS",
    "prepare",
    "read_record",
    "read_results",
]

CSV_FIELDS = [
    "strategy",
    "training",
    "epochs",
    "seed",
    "budget_bytes",
    "experience",
    "classes_seen",
    "accuracy",
    "new_accuracy",
    "old_accuracy",
    "forgetting",
    "memory_bytes",
    "wall_time_s",
    "cpu_time_s",
    "drift_estimated_rel_l2",
    "drift_stale_rel_l2",
    "drift_estimated_cosine",
    "drift_stale_cosine",
]
#: results.csv's columns of text (the others are numbers)
TEXT_FIELDS = {"strategy", "training"}
#: the files a comparison writes into its folder (besides the record, logs/
#: and base_models/)
OUTPUTS = [
    "results.csv",
    "summary.md",
    "summary.json",
    "accuracy_per_experience.png",
    "accuracy_vs_memory.png",
    "drift.png",
]
OUTPUTS += [f.replace(".png", "_shared.png") for f in OUTPUTS if f.endswith(".png")]
#: the settings of the comparison that wrote a folder
RECORD = "comparison.json"
_FORCE = "pass --force (resume=False in Python) to replace them"


def _number(text: str):
    """An int where the text is one, else a float: ``str()`` of the result
    is the text again, so rewriting a row read back changes no byte."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parsed(row: Dict[str, str]) -> Dict:
    return {k: v if k in TEXT_FIELDS else _number(v) for k, v in row.items()}


def read_results(path) -> List[Dict]:
    """The rows of a results.csv, with numbers as numbers (any columns, so a
    results.csv of an older version reads too)."""
    with open(path, newline="") as f:
        return [_parsed(r) for r in csv.DictReader(f)]


def _complete_rows(path: Path) -> List[Dict]:
    """The whole rows of ``path`` (a line cut by a kill is dropped)."""
    if not path.exists():
        return []
    text = path.read_text()
    text = text[: text.rfind("\n") + 1]
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        if None in r or any(r.get(k) in (None, "") for k in CSV_FIELDS):
            continue
        try:
            rows.append(_parsed({k: r[k] for k in CSV_FIELDS}))
        except ValueError:
            continue
    return rows


def row_key(r: Dict) -> tuple:
    """What tells a row of results.csv from every other row."""
    keys = ("strategy", "seed", "budget_bytes", "training", "epochs", "experience")
    return tuple(r[k] for k in keys)


def finished(path: Path, expected: Sequence[Sequence[tuple]]) -> Dict[int, List]:
    """Run index -> its rows, for every run whose ``expected`` row keys
    (:func:`row_key`, in the run's order) are all in results.csv at ``path``."""
    by_key = {row_key(r): r for r in _complete_rows(path)}
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
        if not (keep and f == "results.csv"):
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


def append(f, rows: List[Dict]) -> None:
    """Append ``rows`` to the open results.csv ``f`` in one write."""
    if f is None:
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    for r in rows:
        w.writerow({k: r[k] for k in CSV_FIELDS})
    f.write(buf.getvalue())
    f.flush()


def write_csv(path: Path, rows: List[Dict]) -> None:
    """Replace ``path`` by a results.csv of ``rows``, in one ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        csv.DictWriter(f, fieldnames=CSV_FIELDS).writeheader()
        append(f, rows)
    os.replace(tmp, path)


def open_results(out: Optional[Path], rows: List[Dict]):
    """results.csv rewritten with ``rows`` (the runs kept), open to append
    the next; None without ``out``."""
    if out is None:
        return None
    write_csv(out / "results.csv", rows)
    return open(out / "results.csv", "a", newline="")

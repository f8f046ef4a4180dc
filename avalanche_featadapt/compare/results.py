"""results.csv, in one place: its columns, the drift keys, the files a
comparison writes, and the reader and writers of the rows (docs/comparison.md,
"Budgets and the accuracy-versus-memory curve").

``memory_bytes`` is the run's budget, as everywhere in the package (the
``--memory-bytes`` option, the strategies' argument); ``held_bytes`` is the
bytes its memory held after the row's experience. A results.csv of an older version, which named
them ``budget_bytes`` and ``memory_bytes``, reads with today's names."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Dict, List, Optional

__all__ = [
    "CSV_FIELDS",
    "DRIFT_KEYS",
    "OUTPUTS",
    "RESULTS",
    "SELECTION_FIELDS",
    "TEXT_FIELDS",
    "append",
    "complete_rows",
    "drift_field",
    "open_results",
    "read_results",
    "write_csv",
]

#: what :class:`~avalanche_featadapt.metrics.DriftMetric` reports per
#: experience; results.csv has each as a column ``drift_<key>``
#: (:func:`drift_field`)
DRIFT_KEYS = ("estimated_rel_l2", "stale_rel_l2", "estimated_cosine", "stale_cosine")


def drift_field(key: str) -> str:
    """results.csv's column of drift key ``key``: ``drift_<key>``."""
    return f"drift_{key}"


#: results.csv's columns, in order
CSV_FIELDS = [
    "strategy",
    "training",
    "epochs",
    "seed",
    "memory_bytes",
    "experience",
    "classes_seen",
    "accuracy",
    "new_accuracy",
    "old_accuracy",
    "forgetting",
    "held_bytes",
    "wall_time_s",
    "cpu_time_s",
    *map(drift_field, DRIFT_KEYS),
]
#: results.csv's columns of text (the others are numbers)
TEXT_FIELDS = {"strategy", "training"}
#: the name of the comparison's table of rows
RESULTS = "results.csv"
#: the files a comparison writes into its folder (besides its record, logs/
#: and base_models/)
OUTPUTS = [
    RESULTS,
    "summary.md",
    "summary.json",
    "accuracy_per_experience.png",
    "accuracy_vs_memory.png",
    "drift.png",
]
OUTPUTS += [f.replace(".png", "_shared.png") for f in OUTPUTS if f.endswith(".png")]
#: selection.csv's columns (``featadapt select``: one row per validation run)
SELECTION_FIELDS = ["strategy", "epochs", "seed", "memory_bytes"]
SELECTION_FIELDS += ["val_avg_inc", "val_final"]
#: an older version's column -> today's (the budget was ``budget_bytes``,
#: the bytes held ``memory_bytes``)
_OLD_NAMES = {"budget_bytes": "memory_bytes", "memory_bytes": "held_bytes"}


def _number(text: str):
    """An int where the text is one, else a float: ``str()`` of the result
    is the text again, so rewriting a row read back changes no byte."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _rows(f) -> csv.DictReader:
    """A reader of results.csv text with today's column names, whatever the
    version that wrote it."""
    reader = csv.DictReader(f)
    if reader.fieldnames and "budget_bytes" in reader.fieldnames:
        reader.fieldnames = [_OLD_NAMES.get(k, k) for k in reader.fieldnames]
    return reader


def _parsed(row: Dict[str, str]) -> Dict:
    return {k: v if k in TEXT_FIELDS else _number(v) for k, v in row.items()}


def read_results(path) -> List[Dict]:
    """The rows of a results.csv, with numbers as numbers (any columns, so a
    results.csv of an older version reads too, its columns renamed)."""
    with open(path, newline="") as f:
        return [_parsed(r) for r in _rows(f)]


def complete_rows(path: Path) -> List[Dict]:
    """The whole rows of ``path`` with every column of :data:`CSV_FIELDS`
    (a line cut by a kill is dropped); [] if there is no such file."""
    if not path.exists():
        return []
    text = path.read_text()
    text = text[: text.rfind("\n") + 1]
    rows = []
    for r in _rows(io.StringIO(text)):
        if None in r or any(r.get(k) in (None, "") for k in CSV_FIELDS):
            continue
        try:
            rows.append(_parsed({k: r[k] for k in CSV_FIELDS}))
        except ValueError:
            continue
    return rows


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
    write_csv(out / RESULTS, rows)
    return open(out / RESULTS, "a", newline="")

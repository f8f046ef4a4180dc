"""Write examples/tutorial.ipynb from examples/tutorial.py.

The tutorial has one source, ``tutorial.py``, in the percent-cell format
(``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell whose lines
are comments). This script turns it into a Jupyter notebook (nbformat 4,
plain JSON, no dependency), with no outputs, so that Jupyter and course
platforms open it:

    python examples/make_notebook.py          # writes examples/tutorial.ipynb
    python examples/make_notebook.py --check  # exits 1 if the notebook is stale

``tests/test_tutorial.py`` checks that the committed notebook is what this
script writes, and runs its code cells top to bottom in the tutorial's fast
mode.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "tutorial.py"
NOTEBOOK = HERE / "tutorial.ipynb"
_MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?\s*$")


def cells(source: str) -> list:
    """[(cell_type, text)] of a percent-format script, in order."""
    out = []
    kind, lines = None, []

    def flush():
        text = "\n".join(lines).strip("\n")
        if kind is not None and text:
            out.append((kind, text))

    for line in source.splitlines():
        m = _MARKER.match(line)
        if m:
            flush()
            kind, lines = ("markdown" if m.group("md") else "code"), []
        elif kind == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"A markdown cell line is not a comment: {line!r}")
            lines.append(line[2:] if line.startswith("# ") else line[1:])
        elif kind == "code":
            lines.append(line)
        elif line.strip():
            raise ValueError(f"Text before the first '# %%' cell: {line!r}")
    flush()
    return out


def notebook(source: str) -> dict:
    """The nbformat-4 notebook of a percent-format script (no outputs)."""
    nb_cells = []
    for kind, text in cells(source):
        src = text.splitlines(keepends=True)
        cell = {"cell_type": kind, "metadata": {}, "source": src}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        nb_cells.append(cell)
    return {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def render(source_path: Path = SOURCE) -> str:
    """The notebook's file contents."""
    nb = notebook(source_path.read_text())
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="fail if stale")
    p.add_argument("--out", type=Path, default=NOTEBOOK)
    args = p.parse_args(argv)
    text = render()
    if args.check:
        ok = args.out.exists() and args.out.read_text() == text
        print(f"{args.out} is {'up to date' if ok else 'stale: run without --check'}")
        return 0 if ok else 1
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The tutorial ships as a notebook generated from examples/tutorial.py (one
source), and the notebook runs top to bottom in the tutorial's fast mode.

Jupyter and nbclient are not dependencies of this package, so the notebook
is executed as Jupyter would run it: its code cells in order, in one
namespace, in a fresh Python process."""

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT

# runs the whole tutorial in a subprocess
pytestmark = pytest.mark.slow

NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"


def _make_notebook():
    spec = importlib.util.spec_from_file_location(
        "make_notebook", ROOT / "examples" / "make_notebook.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_notebook_is_generated_from_the_tutorial():
    mk = _make_notebook()
    assert (
        NOTEBOOK.read_text() == mk.render()
    ), "examples/tutorial.ipynb is stale: run python examples/make_notebook.py"
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    source = (ROOT / "examples" / "tutorial.py").read_text()
    markers = re.findall(r"^# %%( \[markdown\])?$", source, flags=re.M)
    assert len(nb["cells"]) == len(markers)
    kinds = ["markdown" if m else "code" for m in markers]
    assert [c["cell_type"] for c in nb["cells"]] == kinds
    # markdown cells are the comments without their '# '; code is verbatim
    md = "".join(nb["cells"][0]["source"])
    assert md.startswith("# Class-incremental learning on SplitDigits")
    code = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    )
    assert "run_comparison(" in code and "# %%" not in code
    compile(code, "tutorial.ipynb", "exec")


def test_percent_cells_parse_as_written(tmp_path):
    mk = _make_notebook()
    src = tmp_path / "t.py"
    src.write_text("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\ny = 2\n")
    nb = json.loads(mk.render(src))
    assert [c["cell_type"] for c in nb["cells"]] == ["markdown", "code"]
    assert nb["cells"][0]["source"] == ["# Title\n", "\n", "text"]
    assert "".join(nb["cells"][1]["source"]) == "x = 1\n\n\ny = 2"


RUNNER = """
import json, sys
nb = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
for i, cell in enumerate(nb["cells"]):
    if cell["cell_type"] == "code":
        exec(compile("".join(cell["source"]), f"cell {i}", "exec"), ns)
"""


def test_notebook_runs_top_to_bottom_in_fast_mode(tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", RUNNER, str(NOTEBOOK)],
        cwd=tmp_path,
        env={**os.environ, "FEATADAPT_FAST": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    for png in ("accuracy.png", "drift.png", "pca.png"):
        assert (tmp_path / "tutorial_out" / png).stat().st_size > 5000
    for name in ("naive", "lwf", "icarl", "sdc", "featadapt", "featadapt-noadapt"):
        assert re.search(rf"^{name} +\d", out, flags=re.M), name
    # each method against its own uncompensated baseline, in one unit
    for name in ("featadapt", "sdc"):
        assert f"{name}: relative L2 error after the last experience" in out
    # pca.png's numbers are over all probes: 2 old classes x 40 probes
    m = re.search(
        r"pca: over all (\d+) probes, adapted closer than stored for (\d+) .*"
        r"as stored (\d\.\d+), adapted (\d\.\d+)",
        out,
    )
    assert m, out[-2000:]
    n, closer, stored, adapted = int(m[1]), int(m[2]), float(m[3]), float(m[4])
    assert n == 80 and 0 <= closer <= n
    # the adapter roughly halves the error (0.46 -> 0.19 measured); a margin
    # far beyond the spread across seeds
    assert adapted < 0.75 * stored

"""Every example runs, and the tutorial writes its plots."""

import os
import subprocess
import sys

import pytest

from helpers import ROOT

# each test runs an example end to end in a subprocess
pytestmark = pytest.mark.slow


def run(script, tmp_path, **env):
    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


# FEATADAPT_FAST=1: fewer epochs (the examples' docstrings); what is checked
# here is that they run and write their outputs, not their accuracy


def test_quickstart(tmp_path):
    out = run("quickstart.py", tmp_path, FEATADAPT_FAST="1")
    assert "after experience 4: buffer holds 1280 features, 51200 bytes" in out
    assert (tmp_path / "logs" / "quickstart" / "eval_results.csv").exists()


@pytest.mark.parametrize(
    "script", ["add_to_existing_script.py", "plugins_a_la_carte.py"]
)
def test_small_examples(script, tmp_path):
    run(script, tmp_path)


def test_compare_baselines_example(tmp_path):
    out = run("compare_baselines.py", tmp_path, FEATADAPT_FAST="1")
    assert "| featadapt |" in out
    assert (
        tmp_path / "results" / "compare_baselines" / "accuracy_per_experience.png"
    ).exists()


# the tutorial runs as its notebook in tests/test_tutorial.py

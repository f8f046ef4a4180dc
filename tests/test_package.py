import subprocess
import sys
from pathlib import Path

import pytest

import avalanche_featadapt


def test_public_names_are_importable_from_the_top_level():
    for name in avalanche_featadapt.__all__:
        assert getattr(avalanche_featadapt, name) is not None, name


@pytest.mark.slow
def test_featadapt_compare_console_script():
    script = Path(sys.executable).with_name("featadapt")
    assert script.exists(), "pip install -e . installs the featadapt script"
    res = subprocess.run(
        [str(script), "compare", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "--memory-bytes" in res.stdout


PACKAGE = Path(avalanche_featadapt.__file__).parent


def test_no_module_above_about_300_lines_and_each_job_named_by_its_file():
    # a reader finds each job from the file names; "about 300"
    # leaves 20 lines of slack
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 320
    }
    assert not long, f"split these modules by job: {long}"
    for where in ("strategies", "benchmarks", "metrics", "compare/cli.py"):
        assert (PACKAGE / where).exists(), where

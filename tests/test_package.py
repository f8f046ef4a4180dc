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

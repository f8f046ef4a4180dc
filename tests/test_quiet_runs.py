"""Quiet, fast runs: no warning from the package's code or caused by its
plugins (Avalanche took ``after_experiences`` for a callback; a loss turned
into a float kept its graph), and ``featadapt --help`` / ``featadapt list``
start without importing torch or Avalanche (perf/cli_startup.py times them)."""

import inspect
import json
import os
import subprocess
import sys
import warnings

import pytest

from helpers import ROOT, small_fa

PACKAGE = str(ROOT / "avalanche_featadapt")

_IMPORTED = """
import sys
from avalanche_featadapt.compare import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "avalanche"))
print("HEAVY", heavy[:5])
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["list"], ["compare", "--help"], ["select", "--help"]]
)
def test_help_and_list_import_neither_torch_nor_avalanche(argv):
    res = subprocess.run(
        [sys.executable, "-c", _IMPORTED, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "HEAVY []" in res.stdout, res.stdout[-500:]


def test_lazy_package_names_resolve_as_before():
    import avalanche_featadapt as fa
    from avalanche_featadapt import benchmarks, compare
    from avalanche_featadapt.plugins import OneClassFreezer

    assert fa.OneClassFreezer is OneClassFreezer
    assert set(fa.__all__) <= set(dir(fa))
    for mod in (fa, benchmarks, compare):
        for name in mod.__all__:
            assert getattr(mod, name) is not None
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            mod.nope


def test_registry_builders_keep_their_signatures_and_defaults():
    from avalanche_featadapt.benchmarks import split_image_tree
    from avalanche_featadapt.compare.registry import BENCHMARKS

    build = BENCHMARKS["imagefolder"].build
    assert inspect.signature(build) == inspect.signature(split_image_tree)
    assert "train_per_class" in inspect.signature(build).parameters
    bench = BENCHMARKS["split-digits"].build("b0-5", seed=0, data_root=None)
    assert len(bench.train_stream) == 5


@pytest.mark.parametrize("plugin", ["OneClassFreezer", "BatchNormFreezer"])
def test_the_old_after_experiences_keyword_names_the_new_one(plugin):
    import avalanche_featadapt as fa

    cls = getattr(fa, plugin)
    with pytest.raises(TypeError, match=r"renamed warmup_experiences=.*=2"):
        cls(after_experiences=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        cls(nope=1)
    assert cls(warmup_experiences=2).warmup_experiences == 2
    # no attribute that Avalanche would take for a callback
    assert not [a for a in vars(cls()) if a.startswith(("before", "after"))]


def test_feature_adaptation_is_built_and_trained_without_warnings(digits):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = small_fa(train_epochs=1)
        for exp in digits.train_stream[:2]:
            s.train(exp)
    ours = [w for w in caught if _ours(w.filename, str(w.message))]
    assert ours == [], [str(w.message)[:200] for w in ours]


_PROBE = """
import json, runpy, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    runpy.run_path(sys.argv[1], run_name="__main__")
print("WARNINGS" + json.dumps([(w.filename, str(w.message)) for w in caught]))
"""


def _ours(filename: str, message: str) -> bool:
    """Raised from the package's code or the examples, or naming one of the
    package's objects (Avalanche's 'incompatible callbacks' did)."""
    return (
        filename.startswith((PACKAGE, str(ROOT / "examples")))
        or "avalanche_featadapt" in message
        or "incompatible callbacks" in message
    )


@pytest.mark.slow
def test_quickstart_raises_no_warning_of_the_packages(tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, str(ROOT / "examples" / "quickstart.py")],
        cwd=tmp_path,
        env={**os.environ, "FEATADAPT_FAST": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    caught = json.loads(res.stdout.split("WARNINGS")[-1])
    ours = [(f, m[:200]) for f, m in caught if _ours(f, m)]
    assert ours == []
    # what remains is Avalanche's own, on import (jaxopt, qpsolvers)
    assert all("site-packages" in f for f, _ in caught), caught

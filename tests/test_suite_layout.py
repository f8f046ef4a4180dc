"""The suite keeps the layout CONTRIBUTING.md describes: test folders mirror
the package, test file names are unique, helpers come from tests/helpers.py
(never from conftest, another test file or a ``sys.path`` edit), and the
``slow`` marker is set in the test files alone."""

import re
from collections import Counter

from helpers import ROOT

TESTS = ROOT / "tests"
FILES = sorted(TESTS.rglob("*.py"))


def test_test_folders_mirror_the_package():
    package = ROOT / "avalanche_featadapt"
    for path in FILES:
        folder = path.parent.relative_to(TESTS)
        assert (package / folder).is_dir(), f"{path}: no avalanche_featadapt/{folder}"


def test_test_file_names_are_unique():
    # the folders have no __init__.py, so pytest imports each file by its name
    names = Counter(p.name for p in FILES if p.name.startswith("test_"))
    assert not [n for n, k in names.items() if k > 1], names


def test_helpers_come_from_helpers_py():
    bad = re.compile(r"^\s*(from conftest import|import conftest|from test_\w+ import)")
    edit = re.compile(r"sys\.path\.(insert|append)|sys\.path\s*[+=]")
    for path in FILES:
        text = path.read_text()
        assert not [l for l in text.splitlines() if bad.match(l)], path
        assert not edit.search(text), path


def test_slow_is_marked_in_the_test_files_only():
    conftest = (TESTS / "conftest.py").read_text()
    assert "pytest_collection_modifyitems" not in conftest
    assert "add_marker" not in conftest


def test_no_issue_numbers_in_the_tests():
    pattern = re.compile(r"\bissue\s*#?\d|#\d+\b", re.I)
    for path in FILES:
        hits = [l for l in path.read_text().splitlines() if pattern.search(l)]
        assert not hits, (path, hits)

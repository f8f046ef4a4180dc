"""The docs are true to the code: the API reference is regenerated from the
docstrings, every Python block in README.md and docs/ runs, and every shell
command they show parses."""

import re
import shlex

import pytest

from helpers import ROOT

DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def blocks(path, lang):
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def test_api_reference_matches_docstrings():
    from avalanche_featadapt.apidoc import render

    assert (
        ROOT / "docs" / "api.md"
    ).read_text() == render(), (
        "docs/api.md is stale: run python -m avalanche_featadapt.apidoc"
    )


def test_strategies_table_matches_the_registry():
    from avalanche_featadapt.apidoc import render_comparison

    page = (ROOT / "docs" / "comparison.md").read_text()
    assert page == render_comparison(page), (
        "docs/comparison.md's strategies table is stale: run "
        "python -m avalanche_featadapt.apidoc"
    )


def test_strategies_table_marks_the_opt_in_strategies_and_refuses_no_markers():
    from avalanche_featadapt.compare import STRATEGIES
    from avalanche_featadapt.compare.doc_tables import (
        replace_strategies_table,
        strategies_table,
    )

    table = strategies_table()
    for spec in STRATEGIES.values():
        (row,) = [r for r in table.splitlines() if r.startswith(f"| `{spec.name}`")]
        assert ("(not run by default)" in row) != spec.default, row
    with pytest.raises(ValueError, match="strategies table"):
        replace_strategies_table("# a page without markers\n")


@pytest.mark.parametrize(
    "path", [p for p in DOCS if blocks(p, "python")], ids=lambda p: p.name
)
@pytest.mark.slow
def test_python_blocks_run(path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    ns = {}
    # blocks of one page run in order in one namespace, as a reader would
    for code in blocks(path, "python"):
        if "model=model,                 # has .feature_extractor" in code:
            # README's excerpt: give it the objects it names
            exec(README_PRELUDE, ns)
            code = code.replace("train_epochs=20", "train_epochs=1")
        exec(compile(code, str(path), "exec"), ns)


README_PRELUDE = """
import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.plugins import EvaluationPlugin
from avalanche_featadapt import SplitDigits, make_digits_model
benchmark = SplitDigits(5)
model = make_digits_model()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
evaluator = EvaluationPlugin(accuracy_metrics(stream=True), loggers=[])
"""


def shell_commands():
    for path in DOCS:
        for block in blocks(path, "bash"):
            for line in block.splitlines():
                line = line.split("#")[0].strip()
                if line:
                    yield path.name, line


@pytest.mark.parametrize("where, line", list(shell_commands()))
def test_shell_commands_parse(where, line):
    from avalanche_featadapt.compare import build_parser

    argv = shlex.split(line)
    prog = argv[0]
    if prog == "./run.sh":
        assert (ROOT / "run.sh").exists()
        assert argv[1] in ("compare", "test"), line
        rest = argv[2:] if argv[1] == "compare" else None
    elif prog.endswith("featadapt"):
        build_parser().parse_args(argv[1:])  # any subcommand; exits if bad
        rest = None
    elif prog.endswith("python") and argv[1:3] == ["-m", "avalanche_featadapt.compare"]:
        rest = argv[3:]
    elif prog.endswith("python") and argv[1].endswith(".py"):
        assert (ROOT / argv[1]).exists(), line
        rest = None
    elif prog == "torchrun":  # docs/usage.md, "Distributed training"
        assert (ROOT / next(a for a in argv if a.endswith(".py"))).exists(), line
        rest = None
    else:
        pytest.fail(f"{where}: unknown command {line!r}")
    if rest is not None:
        build_parser().parse_args(["compare"] + rest)  # exits on a bad option

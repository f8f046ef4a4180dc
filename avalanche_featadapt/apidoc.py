"""Write docs/api.md from the docstrings, and the strategies table of
docs/comparison.md from the registry: ``python -m avalanche_featadapt.apidoc``.

A test regenerates both and compares, so neither can drift from the code."""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

MODULES = [
    "avalanche_featadapt.strategies.feature_adaptation",
    "avalanche_featadapt.strategies.sdc",
    "avalanche_featadapt.plugins.feature_buffer",
    "avalanche_featadapt.plugins.herding",
    "avalanche_featadapt.plugins.adapter",
    "avalanche_featadapt.plugins.distillation",
    "avalanche_featadapt.plugins.adversarial_distillation",
    "avalanche_featadapt.plugins.adc",
    "avalanche_featadapt.plugins.stored_feature_replay",
    "avalanche_featadapt.plugins.classifier_retrainer",
    "avalanche_featadapt.plugins.batchnorm_freezer",
    "avalanche_featadapt.plugins.one_class",
    "avalanche_featadapt.plugins.sdc",
    "avalanche_featadapt.features",
    "avalanche_featadapt.distributed",
    "avalanche_featadapt.memory",
    "avalanche_featadapt.metrics.backbone_loss",
    "avalanche_featadapt.metrics.drift",
    "avalanche_featadapt.metrics.memory_bytes",
    "avalanche_featadapt.metrics.csv_logger",
    "avalanche_featadapt.benchmarks.digits",
    "avalanche_featadapt.benchmarks.arrays",
    "avalanche_featadapt.benchmarks.real",
    "avalanche_featadapt.benchmarks.protocol",
    "avalanche_featadapt.models",
    "avalanche_featadapt.model_split",
    "avalanche_featadapt.compare.registry",
    "avalanche_featadapt.compare.build",
    "avalanche_featadapt.compare.builders",
    "avalanche_featadapt.compare.run",
    "avalanche_featadapt.compare.results",
    "avalanche_featadapt.compare.single_run",
    "avalanche_featadapt.compare.workers",
    "avalanche_featadapt.compare.trainings",
    "avalanche_featadapt.compare.select",
    "avalanche_featadapt.compare.report",
    "avalanche_featadapt.compare.plots",
    "avalanche_featadapt.compare.cli",
    "avalanche_featadapt.compare.doc_tables",
]


def _signature(obj) -> str:
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    sig = re.sub(r"<function (\w+) at 0x[0-9a-f]+>", r"\1", sig)
    return sig.replace("\n", " ")


def render() -> str:
    out = [
        "# API reference",
        "",
        "Generated from the docstrings by `python -m avalanche_featadapt.apidoc`;",
        "`tests/test_docs.py` fails if this file and the code disagree.",
        "",
    ]
    for name in MODULES:
        mod = importlib.import_module(name)
        out += [f"## `{name}`", "", inspect.cleandoc(mod.__doc__ or ""), ""]
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            kind = "class" if inspect.isclass(obj) else "def"
            out += [f"### {kind} `{attr}{_signature(obj)}`", ""]
            out += [inspect.cleandoc(obj.__doc__ or "(no docstring)"), ""]
    return "\n".join(out).rstrip() + "\n"


DOCS = Path(__file__).resolve().parent.parent / "docs"


def render_comparison(text: str) -> str:
    """docs/comparison.md's ``text`` with its strategies table regenerated
    from the registry (:mod:`~avalanche_featadapt.compare.doc_tables`)."""
    from .compare.doc_tables import replace_strategies_table

    return replace_strategies_table(text)


def main() -> int:
    api, comparison = DOCS / "api.md", DOCS / "comparison.md"
    api.write_text(render())
    print(f"wrote {api}")
    comparison.write_text(render_comparison(comparison.read_text()))
    print(f"wrote the strategies table of {comparison}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-strategy hyperparameters from the command line (``--set
featadapt.lambda_fd=10``, repeatable) or a TOML file (``--config FILE``, one
``[strategy]`` table each), checked against the strategies' constructors
before any run (docs/comparison.md, "Hyperparameters of one strategy")."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .registry import STRATEGIES

__all__ = [
    "check_overrides",
    "check_values",
    "hyperparameter_names",
    "load_config",
    "merged",
    "parse_sets",
]

#: constructor arguments that the comparison sets for every strategy (the
#: model, the optimizer, the memory from the budget, --epochs, --batch-size,
#: --device, the evaluation), so no strategy's hyperparameters
_SHARED = {
    "model",
    "feature_extractor",
    "classifier",
    "last_layer_name",
    "optimizer",
    "criterion",
    "memory_bytes",
    "mem_size",
    "memory_size",
    "buffer_transform",
    "selector",
    "train_mb_size",
    "train_epochs",
    "eval_mb_size",
    "device",
    "plugins",
    "evaluator",
    "eval_every",
}
_EXAMPLE = "e.g. --set featadapt.lambda_fd=10"


def hyperparameter_names(name: str) -> List[str]:
    """The hyperparameters that ``--set NAME.PARAM=VALUE`` may set for
    strategy ``name``: its constructor's keyword arguments (the record's
    builder names it), less those the comparison sets for every strategy;
    none for a strategy that takes the shared settings only."""
    cls = STRATEGIES[name].builder.constructor_class()
    if cls is None:
        return []
    params = inspect.signature(cls).parameters.values()
    return [
        p.name
        for p in params
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in _SHARED
    ]


def check_overrides(overrides: Optional[Dict[str, dict]], strategies) -> None:
    """Refuse an unknown strategy, a strategy not run, or an unknown
    hyperparameter, naming the valid ones. (Values are checked by building
    the strategy: :func:`~avalanche_featadapt.compare.run.run_comparison`.)"""
    for name, hp in (overrides or {}).items():
        if name not in STRATEGIES:
            raise ValueError(
                f"Unknown strategy {name!r} in the hyperparameters (--set, "
                f"--config); choose from {list(STRATEGIES)}."
            )
        if name not in strategies:
            raise ValueError(
                f"Hyperparameters for {name}, which is not run (--strategies "
                f"{' '.join(strategies)}); add it to --strategies or drop them."
            )
        if not isinstance(hp, dict):
            raise ValueError(
                f"The hyperparameters of {name} must be a dict of name -> value, "
                f"got {hp!r}; {_EXAMPLE}."
            )
        valid = hyperparameter_names(name)
        unknown = [k for k in hp if k not in valid]
        if unknown and not valid:
            raise ValueError(
                f"{name} has no hyperparameters of its own (got {unknown}): it "
                "takes the comparison's --epochs, --lr, --batch-size and "
                "--memory-bytes; drop the setting."
            )
        if unknown:
            raise ValueError(
                f"{name} has no hyperparameter {', '.join(map(repr, unknown))}; "
                f"its hyperparameters are {valid} (the model, optimizer, memory, "
                "epochs, batch size and device are the comparison's options)."
            )


def _value(text: str):
    """A TOML value (10, 1e-3, true, "int8", [1, 2]); anything else: the
    text itself, so that feature_dtype=float16 needs no quotes."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_sets(items: Iterable[str]) -> Dict[str, dict]:
    """``["featadapt.lambda_fd=10", ...]`` -> ``{"featadapt": {"lambda_fd":
    10}}``; values are read as TOML values, or else as text."""
    out: Dict[str, dict] = {}
    for item in items:
        key, eq, text = item.partition("=")
        parts = key.strip().split(".")
        if not eq or len(parts) != 2 or not all(parts) or not text.strip():
            raise ValueError(
                f"--set {item!r}: write STRATEGY.PARAMETER=VALUE, {_EXAMPLE} or "
                "--set featadapt-fp32.lambda_stored=0."
            )
        out.setdefault(parts[0], {})[parts[1]] = _value(text)
    return out


def load_config(path) -> Dict[str, dict]:
    """The ``[strategy]`` tables of a TOML file: ``{strategy: {param:
    value}}``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ValueError(f"--config {path}: cannot read it ({e}); give a TOML file.")
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config {path} is not valid TOML: {e}.")
    bad = [k for k, v in data.items() if not isinstance(v, dict)]
    if bad:
        raise ValueError(
            f"--config {path}: {bad} are not tables; write one table per "
            "strategy, e.g.\n[featadapt]\nlambda_fd = 10"
        )
    return data


def merged(*sources: Optional[Dict[str, dict]]) -> Dict[str, dict]:
    """The hyperparameters of several sources, each later one winning
    (``--config`` first, then ``--set``)."""
    out: Dict[str, dict] = {}
    for src in sources:
        for name, hp in (src or {}).items():
            out.setdefault(name, {}).update(hp)
    return out


def check_values(
    overrides: Dict[str, dict], benchmark: str, bench, memory_bytes, training
) -> None:
    """Build each strategy once with its hyperparameters (on the CPU, with
    ``bench``, the benchmark record ``benchmark``'s model, ``memory_bytes``
    and ``training``: epochs, lr, batch_size), so that its constructor checks
    the values before any run; every random generator is left as it was."""
    import random

    import numpy as np
    import torch

    from .build import build_strategy
    from .single_run import evaluator
    from .workers import model_factory_of

    for name, hp in overrides.items():
        state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                build_strategy(
                    name,
                    model_factory=model_factory_of(benchmark, bench, "cpu"),
                    benchmark=bench,
                    memory_bytes=memory_bytes,
                    device="cpu",
                    evaluator=evaluator(None),
                    overrides=hp,
                    **training,
                )
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name}'s hyperparameters {hp}: {e}") from None
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])

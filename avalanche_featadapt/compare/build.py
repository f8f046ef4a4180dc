"""Build any strategy of the registry by name, the same way for all: the
model, the optimizer (Adam), its learning rate, the epochs and the batch size
are shared; the memory is one budget in bytes, which each strategy's images
or features are sized to fit (the counting rule of
:mod:`avalanche_featadapt.memory`). What differs between strategies is in
their records' builders (:mod:`~avalanche_featadapt.compare.builders`)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from .builders import Parts, icarl_memory_size
from .registry import STRATEGIES

__all__ = ["build_strategy", "icarl_memory_size"]


def build_strategy(
    name: str,
    *,
    model_factory: Callable,
    benchmark,
    memory_bytes: Optional[int],
    epochs: int,
    lr: float,
    batch_size: int,
    device,
    evaluator,
    eval_mb_size: int = 256,
    overrides: Optional[dict] = None,
    plugins: Sequence = (),
):
    """Build strategy ``name`` (a key of
    :data:`~avalanche_featadapt.compare.registry.STRATEGIES`) with a fresh
    model from ``model_factory()``, by its record's
    :class:`~avalanche_featadapt.compare.builders.Builder`.

    :param model_factory: called as ``model_factory()``, or for a builder
        with ``full_head`` (iCaRL) as ``model_factory(initial_classes=n)``;
        the model has ``feature_extractor`` and ``classifier``.
    :param benchmark: the Avalanche benchmark (class counts, image size).
    :param memory_bytes: the budget in bytes; may be None for strategies
        without a budget-sized memory.
    :param epochs, lr, batch_size: shared training settings (Adam).
    :param device: a torch device.
    :param evaluator: the ``EvaluationPlugin``.
    :param eval_mb_size: the evaluation batch size.
    :param overrides: replace some of the record's hyperparameters.
    :param plugins: plugins to run before the strategy's own (for builders
        with ``takes_plugins``: Naive, Replay and LwF; e.g. the shared base
        model's :class:`~avalanche_featadapt.compare.base_model.BaseModelCache`).
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose from {list(STRATEGIES)}.")
    spec = STRATEGIES[name]
    builder = spec.builder
    if spec.uses_budget and (memory_bytes is None or memory_bytes <= 0):
        raise ValueError(f"{name} needs memory_bytes > 0, e.g. 12800.")
    hp = {**spec.hyperparameters, **(overrides or {})}
    if plugins and not builder.takes_plugins:
        takers = [n for n, s in STRATEGIES.items() if s.builder.takes_plugins]
        raise ValueError(f"plugins= is taken by {', '.join(takers)}, not {name}.")
    if builder.full_head:
        model = model_factory(initial_classes=sum(benchmark.n_classes_per_exp))
    else:
        model = model_factory()
    shared = dict(
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        train_mb_size=batch_size,
        train_epochs=epochs,
        eval_mb_size=eval_mb_size,
        device=device,
        evaluator=evaluator,
    )
    parts = Parts(name, model, benchmark, memory_bytes, shared, tuple(plugins))
    return builder.build(parts, hp)

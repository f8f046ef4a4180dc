"""Build any strategy of the registry by name, the same way for all: the
model, the optimizer (Adam), its learning rate, the epochs and the batch size
are shared; the memory is one budget in bytes, which each strategy's images
or features are sized to fit (the counting rule of
:mod:`avalanche_featadapt.memory`)."""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

from ..memory import images_in_budget
from .registry import STRATEGIES

__all__ = ["build_strategy", "icarl_memory_size"]


def icarl_memory_size(n_images: int, classes_per_step) -> int:
    """The largest iCaRL ``memory_size`` that never holds more than
    ``n_images``: Avalanche's iCaRL keeps ``ceil(memory_size / k)`` images of
    each of k classes, which can exceed ``memory_size``."""
    seen = [sum(classes_per_step[: i + 1]) for i in range(len(classes_per_step))]
    for m in range(n_images, 0, -1):
        if all(math.ceil(m / k) * k <= n_images for k in seen):
            return m
    raise ValueError(
        f"The budget holds {n_images} images, too few for {seen[-1]} classes; "
        "raise --memory-bytes."
    )


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
    model from ``model_factory()``.

    :param model_factory: called as ``model_factory()``, or for iCaRL as
        ``model_factory(initial_classes=n)`` (its head must be full width);
        the model has ``feature_extractor`` and ``classifier``.
    :param benchmark: the Avalanche benchmark (class counts, image size).
    :param memory_bytes: the budget in bytes; may be None for strategies
        without a budget-sized memory.
    :param epochs, lr, batch_size: shared training settings (Adam).
    :param device: a torch device.
    :param evaluator: the ``EvaluationPlugin``.
    :param eval_mb_size: the evaluation batch size.
    :param overrides: replace some of the record's hyperparameters.
    :param plugins: plugins to run before the strategy's own (Naive, Replay
        and LwF only: e.g. the shared base model's
        :class:`~avalanche_featadapt.compare.base_model.BaseModelCache`).
    """
    from avalanche.training import ICaRL, JointTraining, LwF, Naive
    from avalanche.training.plugins import ReplayPlugin
    from avalanche.training.storage_policy import ClassBalancedBuffer

    from ..plugins import MaskedNCMClassifier
    from ..strategies import FeatureAdaptationStrategy, SDCStrategy

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose from {list(STRATEGIES)}.")
    spec = STRATEGIES[name]
    if spec.uses_budget and (memory_bytes is None or memory_bytes <= 0):
        raise ValueError(f"{name} needs memory_bytes > 0, e.g. 12800.")
    hp = {**spec.hyperparameters, **(overrides or {})}
    if plugins and spec.kind not in ("naive", "lwf", "replay"):
        raise ValueError(f"plugins= is taken by naive, lwf and replay, not {name}.")
    # Avalanche's iCaRL copies its model's state into a teacher of the first
    # experience's shape, so its head must be full width from the start.
    n_classes = sum(benchmark.n_classes_per_exp)
    model = (
        model_factory(initial_classes=n_classes)
        if spec.kind == "icarl"
        else model_factory()
    )
    common = dict(
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        train_mb_size=batch_size,
        train_epochs=epochs,
        eval_mb_size=eval_mb_size,
        device=device,
        evaluator=evaluator,
    )
    ce = torch.nn.CrossEntropyLoss()
    if spec.kind in ("replay", "icarl"):  # images at 8-bit pixels each
        x0 = benchmark.train_stream[0].dataset.eval()[0][0]
        n_images = images_in_budget(memory_bytes, x0)
        if n_images < 1:
            raise ValueError(
                f"{name}: memory_bytes={memory_bytes} holds no image of "
                f"{x0.numel()} "
                "bytes; raise --memory-bytes."
            )
    if spec.kind == "naive":
        return Naive(model=model, criterion=ce, plugins=list(plugins), **common)
    if spec.kind == "joint":
        return JointTraining(model=model, criterion=ce, **common)
    if spec.kind == "lwf":
        return LwF(model=model, criterion=ce, plugins=list(plugins), **hp, **common)
    if spec.kind == "replay":
        policy = ClassBalancedBuffer(max_size=n_images, adaptive_size=True)
        plugin = ReplayPlugin(mem_size=n_images, storage_policy=policy)
        plugins = [*plugins, plugin]
        return Naive(model=model, criterion=ce, plugins=plugins, **common)
    if spec.kind == "icarl":
        icarl = ICaRL(
            feature_extractor=model.feature_extractor,
            classifier=model.classifier,
            memory_size=icarl_memory_size(n_images, benchmark.n_classes_per_exp),
            buffer_transform=None,
            **hp,
            **common,
        )
        # Avalanche 0.6's iCaRL fills the means of classes not seen yet with
        # zero vectors, which its NCMClassifier can predict (accuracy below
        # chance before the last experience); mask them instead.
        icarl.model.eval_classifier = MaskedNCMClassifier(normalize=True)
        return icarl
    if spec.kind == "sdc":
        return SDCStrategy(model=model, **hp, **common)
    return FeatureAdaptationStrategy(
        model=model, memory_bytes=memory_bytes, **hp, **common
    )

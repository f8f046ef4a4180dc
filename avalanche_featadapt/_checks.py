"""Input checks of the training loop, shared by the plugins: a batch with
NaN/inf, an experience's classes, a plugin composed wrongly."""

from __future__ import annotations

from typing import List

import torch

__all__ = ["check_buffer_order", "check_finite_batch", "experience_classes"]


def check_finite_batch(x, experience: int) -> None:
    """Refuse a training batch with NaN or inf before the forward pass, so
    that neither the weights nor BatchNorm's running statistics see it."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
            raise ValueError(
                f"{bad} training image(s) of experience {experience} contain NaN "
                "or inf; nothing was trained on them (the weights and BatchNorm "
                "statistics are unchanged). Clean or drop those images."
            )


def experience_classes(experience) -> List[int]:
    """The classes of an experience: ``classes_in_this_experience`` where the
    benchmark has a classes timeline, otherwise read from the dataset's
    targets (streams of Avalanche's ``benchmark_from_datasets``)."""
    classes = getattr(experience, "classes_in_this_experience", None)
    if classes is not None:
        return sorted(int(c) for c in classes)
    targets = getattr(getattr(experience, "dataset", None), "targets", None)
    if targets is None:
        raise ValueError(
            "This experience has no classes_in_this_experience and its dataset "
            "no targets, so its classes are unknown. Build the benchmark with "
            "avalanche.benchmarks.with_classes_timeline(...) or from datasets "
            "with targets."
        )
    return sorted({int(c) for c in torch.as_tensor(list(targets)).tolist()})


def _index(plugins, plugin) -> int:
    return next((i for i, p in enumerate(plugins) if p is plugin), -1)


def check_buffer_order(strategy, plugin, buffer, *, buffer_after: bool) -> None:
    """A plugin that works on a :class:`FeatureBuffer` needs it among the
    strategy's plugins, on the right side of itself: the adapter before its
    buffer (the buffer's update applies the adapter's phi_t), the classifier
    retrainer after it (it trains on the updated buffer). Raises, saying how
    to order them, instead of training and changing nothing."""
    who = type(plugin).__name__
    plugins = list(strategy.plugins)
    i, j = _index(plugins, plugin), _index(plugins, buffer)
    right = (
        f"plugins=[{who}(buffer=buffer, ...), buffer]"
        if buffer_after
        else f"plugins=[buffer, {who}(buffer=buffer, ...)]"
    )
    if j < 0:
        raise ValueError(
            f"{who}'s FeatureBuffer is not among the strategy's plugins, so it "
            f"would never be filled or updated and {who} would change nothing. "
            f"Pass both: {right}."
        )
    if buffer_after and j < i or not buffer_after and j > i:
        where = "after" if buffer_after else "before"
        raise ValueError(
            f"{who} is at plugins[{i}] and its FeatureBuffer at plugins[{j}]; the "
            f"buffer must come {where} it, or the buffer's update would miss "
            f"this experience's {'adapter' if buffer_after else 'features'}. "
            f"Order them as {right}."
        )

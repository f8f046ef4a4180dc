"""Input checks of the training loop, shared by the plugins: a batch with
NaN/inf, an experience's classes, a plugin composed wrongly."""

from __future__ import annotations

from typing import List

import torch

__all__ = ["check_finite_batch", "experience_classes"]


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

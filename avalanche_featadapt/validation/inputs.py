"""Input checks of the training loop, shared by the strategies and plugins:
an experience (task labels, labels, classes timeline), a multi-head or
float64 model, a batch with NaN/inf, an experience's classes, a plugin
composed wrongly. Constructor arguments are checked in :mod:`.arguments`;
the set-up of ``EarlyStoppingPlugin`` in :mod:`.early_stopping`."""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import nn

__all__ = [
    "check_buffer_order",
    "check_class_ids",
    "check_experience",
    "check_finite_batch",
    "check_float32",
    "check_labels",
    "check_single_head",
    "experience_classes",
    "old_classes",
]


def check_finite_batch(x, experience: int, *, training: bool = True) -> None:
    """Refuse a training batch with NaN or inf before the forward pass, so
    that neither the weights nor BatchNorm's running statistics see it; with
    ``training=False``, an evaluation batch, whose NaN outputs would be
    scored as an arbitrary class (all-NaN images of two classes scored 50 %)."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
            if not training:
                raise ValueError(
                    f"{bad} evaluation image(s) of experience {experience} contain "
                    "NaN or inf; the model's outputs for them would be NaN and "
                    "their predicted class arbitrary, so the accuracy would mean "
                    "nothing. Clean or drop those images."
                )
            raise ValueError(
                f"{bad} training image(s) of experience {experience} contain NaN "
                "or inf; nothing was trained on them (the weights and BatchNorm "
                "statistics are unchanged). Clean or drop those images."
            )


def check_float32(who: str, *modules) -> None:
    """Refuse a model with floating-point parameters other than float32 (a
    ``model.double()``): the stored features, the adapter, the cosine head
    and the classifier retraining are float32, and would meet the model's
    features with a raw dtype error."""
    for module in modules:
        if not isinstance(module, nn.Module):
            continue
        for name, p in module.named_parameters():
            if p.is_floating_point() and p.dtype != torch.float32:
                raise ValueError(
                    f"{who} works in float32 (stored features, adapter, cosine "
                    f"head, classifier retraining), but the model's parameter "
                    f"{name!r} is {str(p.dtype).replace('torch.', '')}. Pass "
                    "model.float(), and float32 images."
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


def old_classes(buffer, experience) -> List[int]:
    """The classes ``buffer`` stores that ``experience`` does not bring: the
    old classes whose features are distilled, replayed or adapted."""
    current = set(experience_classes(experience))
    return [c for c in buffer.classes if c not in current]


def _index(plugins, plugin) -> int:
    return next((i for i, p in enumerate(plugins) if p is plugin), -1)


def check_buffer_order(
    strategy, plugin, buffer, *, buffer_after: Optional[bool]
) -> None:
    """A plugin that works on a :class:`FeatureBuffer` needs it among the
    strategy's plugins, on the right side of itself: the adapter before its
    buffer (the buffer's update applies the adapter's phi_t), the classifier
    retrainer after it (it trains on the updated buffer); with
    ``buffer_after=None`` (the plugins that read the stored features before
    the experience) on either side. Raises, saying how to order them,
    instead of training and changing nothing."""
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
    if buffer_after is None:
        return
    if buffer_after and j < i or not buffer_after and j > i:
        where = "after" if buffer_after else "before"
        raise ValueError(
            f"{who} is at plugins[{i}] and its FeatureBuffer at plugins[{j}]; the "
            f"buffer must come {where} it, or the buffer's update would miss "
            f"this experience's {'adapter' if buffer_after else 'features'}. "
            f"Order them as {right}."
        )


#: above this class id, a head of one unit per class id is refused
MAX_CLASS_ID = 100_000


def check_class_ids(labels, what: str = "labels") -> None:
    """Refuse float labels (``.long()`` would truncate 1.5 to 1) and class
    ids below 0 or above :data:`MAX_CLASS_ID` in a tensor of labels."""
    t = torch.as_tensor(labels)
    if t.is_floating_point() or t.dtype == torch.bool:
        example = t[t != t.round()][:1].tolist() if t.is_floating_point() else []
        raise ValueError(
            f"{what} are {str(t.dtype).replace('torch.', '')}"
            + (f" (e.g. {example[0]})" if example else "")
            + "; class labels must be integers 0..C-1. Pass them as integers "
            "(y.long())."
        )
    if t.numel() and not 0 <= int(t.min()) <= int(t.max()) <= MAX_CLASS_ID:
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise ValueError(
            f"{what} contain class id {bad}; class labels must be integers "
            f"0..C-1 (at most {MAX_CLASS_ID}). Remap the labels to 0..C-1."
        )


def check_labels(experience):
    """Refuse float labels (they would be truncated to integers) and class
    ids so large that a head of one unit per id would be huge."""
    targets = getattr(experience.dataset, "targets", None)
    if targets is None:
        return
    t = torch.as_tensor(list(targets))
    if t.is_floating_point():
        example = t[t != t.round()][:1].tolist() or t[:1].tolist()
        raise ValueError(
            f"Experience {experience.current_experience} has float labels (e.g. "
            f"{example[0]}); class labels must be integers 0..C-1. Pass the "
            "targets as integers (y.long())."
        )
    if t.numel() and int(t.max()) > MAX_CLASS_ID:
        raise ValueError(
            f"Experience {experience.current_experience} has class id "
            f"{int(t.max())}: the classifier has one unit per class id, so it "
            f"would be {int(t.max()) + 1} units wide. Remap the labels to "
            "0..C-1 (e.g. nc_benchmark(..., class_ids_from_zero_from_first_exp"
            "=True))."
        )
    if t.numel() and int(t.min()) < 0:
        raise ValueError(
            f"Experience {experience.current_experience} has negative class id "
            f"{int(t.min())}; class labels must be integers 0..C-1."
        )


def _task_label_message(who: str, what: str) -> str:
    """The first sentence of every refusal of task labels."""
    return f"{who} is for class-incremental streams without task labels, but {what}."


def check_experience(experience, who: str):
    """Refuse an experience with task labels (these methods are
    class-incremental) or with no training data."""
    labels = set(getattr(experience, "task_labels", [0]))
    if labels - {0}:
        raise ValueError(
            _task_label_message(
                who, f"this experience has task labels {sorted(labels)}"
            )
            + " Build the benchmark with task_labels=False (or "
            "return_task_id=False)."
        )
    if len(experience.dataset) == 0:
        raise ValueError(
            f"Experience {experience.current_experience} has no training data; "
            "remove empty experiences from the stream."
        )
    check_labels(experience)
    if not hasattr(experience, "classes_in_this_experience"):
        raise ValueError(
            f"{who} needs to know each experience's classes (its head grows with "
            "them, through Avalanche's IncrementalClassifier), but this stream "
            "has no classes timeline (a stream of benchmark_from_datasets). "
            "Wrap the benchmark with avalanche.benchmarks.with_classes_timeline("
            "benchmark), or build it with class_incremental_benchmark / "
            "nc_benchmark."
        )


def check_single_head(who: str, *modules) -> None:
    """Refuse a multi-head model (an Avalanche ``MultiTaskModule`` such as
    ``MTSimpleMLP``, anywhere in ``modules``): its forward needs task labels,
    which these class-incremental methods never pass. Same message as
    :func:`check_experience` gives for a stream with task labels."""
    from avalanche.models import MultiTaskModule

    for module in modules:
        for sub in module.modules() if isinstance(module, nn.Module) else ():
            if isinstance(sub, MultiTaskModule):
                raise ValueError(
                    _task_label_message(
                        who,
                        f"the model contains {type(sub).__name__}, a multi-head "
                        "(task-label) Avalanche MultiTaskModule",
                    )
                    + " Use a single-head model, e.g. avalanche.models.SimpleMLP "
                    "or avalanche_featadapt.make_digits_model()."
                )

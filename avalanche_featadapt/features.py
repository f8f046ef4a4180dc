"""Feature extraction: several modules in one pass over a dataset
(:func:`extract_features`), split over the ranks of a ``torchrun`` job
(:func:`extract_features_sharded`); and what the plugins share within an
experience, cached on the strategy: the frozen copy of the model taken
before it (:func:`teacher_of`) and the features of its training data
(:func:`experience_features`). docs/method.md describes where each is
used."""

from __future__ import annotations

import copy
from typing import Optional, Tuple

import torch
from torch import nn
from avalanche.distributed import DistributedHelper
from torch.utils.data import DataLoader, Subset

__all__ = [
    "experience_features",
    "extract_features",
    "extract_features_sharded",
    "feature_extractor_of",
    "frozen_copy",
    "release_caches",
    "teacher_of",
]


@torch.no_grad()
def extract_features(
    modules,
    dataset,
    *,
    device,
    batch_size: int = 512,
) -> Tuple[list, torch.Tensor]:
    """Run each module of ``modules`` over ``dataset`` once, in eval mode, with
    eval transforms and large batches; return ([features per module], labels).

    Several modules share one pass over the data (e.g. the old and the new
    backbone for feature pairs). Training modes are restored afterwards.
    """
    if hasattr(dataset, "eval"):
        dataset = dataset.eval()
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    outs = [[] for _ in modules]
    labels = []
    try:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
        for batch in loader:
            x, y = batch[0].to(device), batch[1]
            for out, m in zip(outs, modules):
                out.append(m(x).float().cpu())
            labels.append(torch.as_tensor(y).long().cpu())
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)
    if not labels:
        raise ValueError(
            "The experience's dataset is empty: there is nothing to extract "
            "features from. Remove empty experiences from the stream."
        )
    return [torch.cat(o) for o in outs], torch.cat(labels)


def extract_features_sharded(
    modules, dataset, *, device, batch_size: int = 512
) -> Tuple[list, torch.Tensor]:
    """:func:`extract_features`, split over the
    ranks: rank r takes samples r, r + N, r + 2N, ... of ``dataset``; the
    parts are gathered (``DistributedHelper.gather_all``) and put back in the
    dataset's order, so every rank returns the same tensors as one process
    would. Without a process group (or with fewer samples than ranks) it is
    :func:`extract_features` itself."""
    helper = DistributedHelper
    world = helper.world_size
    if not helper.is_distributed or world == 1 or len(dataset) < world:
        return extract_features(modules, dataset, device=device, batch_size=batch_size)
    if hasattr(dataset, "eval"):
        dataset = dataset.eval()
    n, rank = len(dataset), helper.rank
    shard = Subset(dataset, list(range(rank, n, world)))
    feats, labels = extract_features(
        modules, shard, device=device, batch_size=batch_size
    )
    out = []
    for part in feats + [labels]:
        gathered = helper.gather_all(part.contiguous())
        whole = part.new_empty((n,) + tuple(part.shape[1:]))
        for r, g in enumerate(gathered):
            whole[r::world] = g.to(whole.device)
        out.append(whole)
    return out[:-1], out[-1]


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off (a teacher)."""
    teacher = copy.deepcopy(module).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def teacher_of(strategy, module: nn.Module) -> nn.Module:
    """The frozen copy of ``module`` taken before this experience's training.

    Plugins that need the previous model (distillation, the adapter) share one
    copy per experience through the strategy, so the model is copied once.
    Call it from ``before_training_exp``.
    """
    exp = strategy.clock.train_exp_counter
    cache = strategy.__dict__.setdefault("_featadapt_teachers", {})
    if cache.get("exp") != exp:
        cache.clear()
        cache["exp"] = exp
        cache["model"] = frozen_copy(strategy.model)
    if module is strategy.model:
        return cache["model"]
    for name, m in strategy.model.named_modules():
        if m is module:
            return cache["model"].get_submodule(name)
    key = ("extra", id(module))
    if key not in cache:
        cache[key] = frozen_copy(module)
    return cache[key]


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two modules hold equal parameters and buffers (a backbone
    that did not move during an experience, e.g. one kept by
    :class:`~avalanche_featadapt.plugins.OneClassFreezer`)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k].to(sb[k].device), sb[k]) for k in sa
    )


_CACHES = ("_featadapt_teachers", "_featadapt_features")


def release_caches(strategy) -> None:
    """Drop the per-experience caches that :func:`teacher_of` and
    :func:`experience_features` keep on the strategy. The plugins that
    create them call it from ``after_training``, so that nothing of theirs
    stays on the strategy (or goes into its checkpoints) between
    experiences, whatever strategy they are attached to."""
    for name in _CACHES:
        strategy.__dict__.pop(name, None)


def feature_extractor_of(strategy, feature_extractor: Optional[nn.Module]):
    """The explicit feature extractor, or ``strategy.model.feature_extractor``."""
    if feature_extractor is not None:
        return feature_extractor
    fe = getattr(strategy.model, "feature_extractor", None)
    if fe is None:
        raise ValueError(
            f"The strategy's model ({type(strategy.model).__name__}) has no "
            "'feature_extractor' attribute. Pass feature_extractor= to the plugin, "
            "or build the model with avalanche_featadapt.split_model()."
        )
    return fe


def experience_features(strategy, modules) -> Tuple[list, torch.Tensor]:
    """:func:`extract_features` on the current experience's training data,
    cached for the experience, so that plugins that need the same features
    (the buffer, the adapter, SDC) extract them once. The cache is keyed on
    the experience and the number of training iterations done, so features
    are recomputed whenever the weights may have changed."""
    key = (strategy.clock.train_exp_counter, strategy.clock.train_iterations)
    cache = strategy.__dict__.get("_featadapt_features")
    if cache is None or cache["key"] != key:
        cache = {"key": key, "feats": {}, "labels": None}
        strategy.__dict__["_featadapt_features"] = cache
    missing = [m for m in modules if id(m) not in cache["feats"]]
    if missing:
        feats, labels = extract_features_sharded(
            missing,
            strategy.experience.dataset,
            device=strategy.device,
            batch_size=max(int(strategy.eval_mb_size or 1), 256),
        )
        for m, f in zip(missing, feats):
            cache["feats"][id(m)] = f
        cache["labels"] = labels
    return [cache["feats"][id(m)] for m in modules], cache["labels"]

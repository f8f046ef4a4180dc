"""Feature extraction: several modules in one pass over a dataset
(:func:`extract_features`), split over the ranks of a ``torchrun`` job
(:func:`extract_features_sharded`); and what the plugins share within an
experience, cached on the strategy: the frozen copy of the model taken
before it (:func:`teacher_of`) and the features of its training data
(:func:`experience_features`). docs/method.md describes where each is
used."""

from __future__ import annotations

import copy
import weakref
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
    "cached_names",
    "release_caches",
    "shared_cache",
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
    cache = shared_cache(strategy, "teachers")
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


#: strategy -> {name: dict}: the caches that the plugins of one strategy
#: share, kept beside the strategy (weakly), not on it
_SHARED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def shared_cache(strategy, name: str) -> dict:
    """The dict that the plugins attached to ``strategy`` share under
    ``name`` (the teacher, the experience's features, ADC's images). It is
    kept in a table beside the strategy, not among its attributes, so it
    never goes into the strategy's checkpoints or copies, and it goes with
    the strategy.

    :returns: the same dict at every call until :func:`release_caches`."""
    return _SHARED.setdefault(strategy, {}).setdefault(name, {})


def cached_names(strategy) -> Tuple[str, ...]:
    """The names of the caches that ``strategy``'s plugins hold now."""
    return tuple(_SHARED.get(strategy, {}))


def release_caches(strategy, *names: str) -> None:
    """Drop caches of :func:`shared_cache`: ``names``, or by default those of
    :func:`teacher_of` and :func:`experience_features`. The plugins that
    create them call it from ``after_training``, so that nothing of theirs
    is held between experiences, whatever strategy they are attached to."""
    caches = _SHARED.get(strategy)
    if caches is None:
        return
    for name in names or ("teachers", "features"):
        caches.pop(name, None)
    if not caches:
        del _SHARED[strategy]


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
    cache = shared_cache(strategy, "features")
    if cache.get("key") != key:
        cache.clear()
        cache.update(key=key, feats={}, labels=None)
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

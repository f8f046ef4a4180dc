"""Feature pairs that reach the old classes: current images pushed toward the
stored old-class features, as in Adversarial Drift Compensation (Goswami,
Liu, Twardowski, van de Weijer, "Resurrecting Old Classes with New Data for
Exemplar-Free Continual Learning", CVPR 2024)."""

from __future__ import annotations

import math
from typing import Dict, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..features import shared_cache

__all__ = ["adversarial_images", "adversarial_pairs", "shared_adversarial_images"]


def _images(dataset, device) -> torch.Tensor:
    if hasattr(dataset, "eval"):
        dataset = dataset.eval()
    xs = [b[0] for b in DataLoader(dataset, batch_size=512, shuffle=False)]
    return torch.cat(xs).to(device)


def adversarial_images(
    old: nn.Module,
    dataset,
    prototypes: Dict[int, torch.Tensor],
    *,
    steps: int = 3,
    step_size: float = 0.1,
    per_class: int = 100,
    max_ratio: float = 2.0,
    device="cpu",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Images ``x'`` that the old backbone maps near each old class's
    prototype, and their target classes.

    ADC moves current images toward an old class in the old model's space:
    for class c, the ``per_class`` images whose old features are nearest
    ``mu_c`` take ``steps`` normalised gradient steps

        x <- x - alpha * g / ||g||,   g = d/dx ||old(x) - mu_c||^2

    (ADC, Sec. 3.2; official code: 3 steps, 100 images per class).
    ``alpha`` is ``step_size`` times the mean L2 norm of the images, so that
    the same value fits any input scale (ADC's alpha = 25 on a batch of 100
    normalised CIFAR images is about 0.05 of an image's norm per image). The
    images stay within the data's range, as in ADC. ADC keeps only the
    images that the old prototypes then classify as c; here every image is
    kept, since an image that moved part way still lies between the current
    and the old classes.

    About ``max_ratio`` times the experience's ``n`` images are made at
    most: each of the ``n_old`` classes gets ``min(per_class,
    ceil(max_ratio * n / n_old))`` images, one at least. ADC's own setting
    (CIFAR-100 b50-5: 5,000 images per experience, 50 to 90 old classes)
    stays within 1.8 times, so the cap leaves it as it is; on smaller
    experiences with many old classes (100 images per class, 1,000 per
    experience) it bounds the cost by the experience, not by the number of
    old classes (docs/ablations.md, "How many images ADC pushes").

    :param old: the previous backbone h_{t-1} (frozen).
    :param dataset: the current experience's training data.
    :param prototypes: old class -> its mean stored feature (old space).
    :param max_ratio: images made in all, at most, per image of ``dataset``.
    :returns: (images, labels), the labels being the target classes.
    """
    if not max_ratio > 0:
        raise ValueError(f"max_ratio must be > 0, got {max_ratio!r}.")
    if not prototypes:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    mode = old.training
    old.eval()
    try:
        x_all = _images(dataset, device)
        # a non-finite image is refused at its training batch; never push it
        x_all = x_all[torch.isfinite(x_all.flatten(1)).all(1)]
        if not len(x_all):
            return torch.empty(0), torch.empty(0, dtype=torch.long)
        lo, hi = x_all.min(), x_all.max()
        alpha = step_size * x_all.flatten(1).norm(dim=1).mean()
        with torch.no_grad():
            f_all = torch.cat([old(x) for x in x_all.split(512)])
        images, labels = [], []
        cap = math.ceil(max_ratio * len(x_all) / len(prototypes))
        for c, mu in prototypes.items():
            mu = mu.to(device).float()
            near = (f_all - mu).pow(2).sum(1).argsort()[: min(per_class, cap)]
            x = x_all[near].clone()
            for _ in range(steps):
                x.requires_grad_(True)
                loss = (old(x) - mu).pow(2).sum()
                (g,) = torch.autograd.grad(loss, x)
                norm = g.flatten(1).norm(dim=1).clamp_min(1e-12)
                norm = norm.view(-1, *[1] * (x.dim() - 1))
                x = (x - alpha * g / norm).clamp(lo, hi).detach()
            images.append(x)
            labels.append(torch.full((len(x),), int(c), dtype=torch.long))
    finally:
        old.train(mode)
    return torch.cat(images), torch.cat(labels)


def shared_adversarial_images(strategy, old: nn.Module, dataset, prototypes, **kw):
    """:func:`adversarial_images`, made once per experience and shared
    through ``strategy`` by the plugins that need them
    (:class:`~avalanche_featadapt.plugins.AdversarialDistillation` before
    training, :class:`~avalanche_featadapt.plugins.AdapterTrainer` after it),
    as :func:`~avalanche_featadapt.features.teacher_of` shares the teacher.

    The images depend only on the frozen teacher, the experience's data, the
    prototypes and ``kw``, none of which change during the experience, so the
    second call returns what a new computation would, bit for bit. It also
    draws the one number from torch's global generator that a computation's
    ``DataLoader`` draws, so that the run's later shuffles, and its results,
    are those of computing the images twice. On
    CIFAR-100 with 50 old classes a computation took 12 s of an
    experience's 39 s (docs/results.md). A call with other arguments
    computes anew."""
    exp = strategy.clock.train_exp_counter
    cache = shared_cache(strategy, "adversarial")
    if cache.get("exp") != exp:
        cache.clear()
        cache["exp"] = exp
    key = (id(old), id(dataset), tuple(sorted(kw.items())))
    hit = cache.get(key)
    same = hit is not None and hit[0].keys() == prototypes.keys()
    if same and all(
        torch.equal(hit[0][c].float().cpu(), prototypes[c].float().cpu())
        for c in prototypes
    ):
        torch.empty((), dtype=torch.int64).random_()  # as _images' DataLoader
        return hit[1]
    got = adversarial_images(old, dataset, prototypes, **kw)
    cache[key] = ({c: p.clone() for c, p in prototypes.items()}, got)
    return got


def adversarial_pairs(
    old: nn.Module,
    new: nn.Module,
    dataset,
    prototypes: Dict[int, torch.Tensor],
    *,
    steps: int = 3,
    step_size: float = 0.1,
    per_class: int = 100,
    device="cpu",
    strategy=None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Feature pairs ``(old(x'), new(x'))`` of the images ``x'`` of
    :func:`adversarial_images`.

    The current images only give pairs where the current classes lie, and an
    adapter fitted there does not carry over to the old classes (measured in
    docs/method.md); these pairs reach toward the old classes.

    :param strategy: share the images with the other plugins of this
        strategy (:func:`shared_adversarial_images`); None computes them.
    :returns: (v_hat, v, labels), the labels being the target classes.
    """
    make = (
        adversarial_images
        if strategy is None
        else lambda *a, **k: shared_adversarial_images(strategy, *a, **k)
    )
    x, labels = make(
        old,
        dataset,
        prototypes,
        steps=steps,
        step_size=step_size,
        per_class=per_class,
        device=device,
    )
    if not len(labels):
        return torch.empty(0), torch.empty(0), labels
    modes = (old.training, new.training)
    old.eval()
    new.eval()
    try:
        with torch.no_grad():
            v_hat = torch.cat([old(b).float().cpu() for b in x.split(512)])
            v = torch.cat([new(b).float().cpu() for b in x.split(512)])
    finally:
        old.train(modes[0])
        new.train(modes[1])
    return v_hat, v, labels

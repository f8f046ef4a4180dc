"""Semantic drift compensation of class prototypes (SDC)."""

from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from avalanche.models import NCMClassifier
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from ..features import (
    experience_features,
    feature_extractor_of,
    release_caches,
    teacher_of,
)
from ..validation.arguments import check_positive

__all__ = ["SDCPlugin", "MaskedNCMClassifier", "compensate_drift"]


def compensate_drift(
    prototypes: torch.Tensor, z_old: torch.Tensor, z_new: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Move each prototype by the weighted mean drift of nearby current data
    (Yu et al., CVPR 2020, Eq. 7-8):
    ``delta_i = z_new_i - z_old_i``,
    ``w_i = exp(-||z_old_i - mu_c||^2 / (2 sigma^2))``,
    ``mu_c <- mu_c + sum_i w_i delta_i / sum_i w_i``.

    :param prototypes: (C, d) class prototypes in the old space.
    :param z_old: (n, d) current data embedded by the old model.
    :param z_new: (n, d) the same data embedded by the new model.
    """
    delta = z_new - z_old
    sq = torch.cdist(prototypes.double(), z_old.double()) ** 2  # (C, n)
    # log-sum-exp form of the weights, so a small sigma cannot underflow to 0/0
    logw = -sq / (2 * sigma**2)
    w = torch.softmax(logw, dim=1)  # = w_i / sum_i w_i
    return prototypes + (w @ delta.double()).to(prototypes.dtype)


class MaskedNCMClassifier(NCMClassifier):
    """Avalanche's ``NCMClassifier`` that never predicts a class without a
    mean. (Avalanche 0.6 fills missing class ids below the largest with zero
    vectors, whose distance, 1 for normalised inputs, can win.)"""

    @torch.no_grad()
    def forward(self, x):
        out = super().forward(x)
        present = torch.zeros(out.shape[1], dtype=torch.bool, device=out.device)
        present[[k for k in self.class_means_dict if k < out.shape[1]]] = True
        for k, v in self.class_means_dict.items():
            if not v.any():
                present[k] = False
        return out.masked_fill(~present, -1e9)


class SDCPlugin(SupervisedPlugin, supports_distributed=True):
    """Semantic Drift Compensation (Yu, Twardowski, Liu, Herranz, Wang,
    Cheng, Jui, van de Weijer, "Semantic Drift Compensation for
    Class-Incremental Learning", CVPR 2020; official code yulu0724/SDC-IL).

    Prototypes mu_c are the mean embedding of class c's training data when it
    is learned. After each later experience, the drift of the current data
    between the previous and the new backbone (a frozen copy taken before the
    experience, eval mode) is interpolated at every old prototype with a
    Gaussian kernel (:func:`compensate_drift`). Classification is by nearest
    prototype: the plugin writes its prototypes into the model's
    ``eval_classifier`` (an Avalanche ``NCMClassifier``) if there is one.

    Memory: the prototypes only, ``C x d`` floats.

    :param sigma: kernel width; 0.3 on L2-normalised embeddings, as in the
        official code.
    :param normalize: L2-normalise embeddings before computing prototypes and
        drift (the official code does).
    :param compensate: False keeps the stale prototypes (the "E-FT" base).
    :param feature_extractor: the embedding network; default
        ``strategy.model.feature_extractor``.
    """

    def __init__(
        self,
        *,
        sigma: float = 0.3,
        normalize: bool = True,
        compensate: bool = True,
        feature_extractor: Optional[nn.Module] = None,
    ):
        super().__init__()
        check_positive("sigma", sigma)
        self.sigma = sigma
        self.normalize = normalize
        self.compensate = compensate
        self.feature_extractor = feature_extractor
        self.prototypes: Dict[int, torch.Tensor] = {}
        self._teacher = None

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.prototypes.values())

    def stored_tensors(self) -> List[torch.Tensor]:
        """What the plugin holds as memory (the contract of
        :class:`~avalanche_featadapt.memory.HoldsMemory`).

        :returns: the class prototypes, one ``(d,)`` tensor each, in the order
            the classes were learned.
        """
        return list(self.prototypes.values())

    def _embed(self, z):
        return F.normalize(z, dim=1) if self.normalize else z

    def before_training_exp(self, strategy, **kwargs):
        fe = feature_extractor_of(strategy, self.feature_extractor)
        use = self.prototypes and self.compensate
        self._teacher = teacher_of(strategy, fe) if use else None

    def after_training_exp(self, strategy, **kwargs):
        fe = feature_extractor_of(strategy, self.feature_extractor)
        if self._teacher is not None:
            (z_old, z_new), y = experience_features(strategy, [self._teacher, fe])
            old = list(self.prototypes)
            mu = torch.stack([self.prototypes[c] for c in old])
            mu = compensate_drift(
                mu, self._embed(z_old), self._embed(z_new), self.sigma
            )
            self.prototypes.update({c: m for c, m in zip(old, mu)})
            self._teacher = None
        else:
            (z_new,), y = experience_features(strategy, [fe])
        z_new = self._embed(z_new)
        for c in torch.unique(y).tolist():
            self.prototypes[int(c)] = z_new[y == c].mean(0)
        ncm = getattr(strategy.model, "eval_classifier", None)
        if isinstance(ncm, NCMClassifier):
            ncm.replace_class_means_dict(
                {c: p.to(strategy.device) for c, p in self.prototypes.items()}
            )

    def after_training(self, strategy, **kwargs):
        release_caches(strategy)  # the shared teacher and features

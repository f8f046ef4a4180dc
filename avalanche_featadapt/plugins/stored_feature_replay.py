"""The old classes in the head that trains the backbone: cross-entropy of the
stored old-class features, while the backbone learns the new classes."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from ..validation.arguments import check_non_negative
from ..validation.inputs import check_buffer_order, old_classes
from .feature_buffer import FeatureBuffer

__all__ = ["StoredFeatureReplay", "training_head"]


def training_head(strategy) -> nn.Module:
    """The head the backbone learns through: the strategy's auxiliary head
    while it is in use (``train_head="auxiliary"``), else the model's
    ``classifier``."""
    model = strategy.model
    if getattr(model, "use_aux", False):
        return model.aux_classifier
    return model.classifier


class StoredFeatureReplay(SupervisedPlugin, supports_distributed=True):
    """Cross-entropy of the stored old-class features through the head that
    trains the backbone (docs/method.md, "The old classes in the training
    head").

    While the backbone learns an experience, the head it learns through
    sees images of the current classes only, so its old-class units get
    nothing but negative gradients and stop describing where the old
    classes lie; the new classes' features are then learned against units
    that point nowhere in particular. This plugin adds, at every iteration,

        lambda_stored * CE(g(v), y)

    over a batch, as large as the training batch, drawn from the stored
    features ``v`` of the old classes (:class:`FeatureBuffer`; they lie in
    the previous backbone's space, where the adapter left them). The
    features are constants: the gradient reaches only the head, and through
    the head's old-class units the backbone learns the new classes away
    from the old ones. The paper (Iscen et al., ECCV 2020) uses the stored
    features only to retrain the classifier after the experience; PASS
    (Zhu et al., CVPR 2021) feeds old-class means plus Gaussian noise to
    the head in the same way ("prototype augmentation"). Here the buffer
    holds real features, so no noise is added.

    :param buffer: the :class:`FeatureBuffer` whose old-class features are
        replayed; it must be among the strategy's plugins too.
    :param lambda_stored: weight of the term; 0 turns it off.
        ``FeatureAdaptationStrategy`` adds this plugin with its own
        ``lambda_stored`` (3 by default, measured on the robustness matrix:
        docs/method.md); ``lambda_stored=0`` leaves it out.
    """

    def __init__(self, *, buffer: FeatureBuffer, lambda_stored: float = 1.0):
        super().__init__()
        if not isinstance(buffer, FeatureBuffer):
            raise ValueError("buffer must be a FeatureBuffer (the stored features).")
        check_non_negative("lambda_stored", lambda_stored)
        self.buffer = buffer
        self.lambda_stored = lambda_stored
        self.features: Optional[torch.Tensor] = None
        self.labels: Optional[torch.Tensor] = None
        self.last_term: Optional[float] = None

    def before_training_exp(self, strategy, **kwargs):
        self.features = self.labels = None
        # without the buffer among the plugins, there would be nothing to read
        check_buffer_order(strategy, self, self.buffer, buffer_after=None)
        old = old_classes(self.buffer, strategy.experience)
        if self.lambda_stored == 0 or not old:
            return
        v, y = self.buffer.features(old)
        self.features, self.labels = v.to(strategy.device), y.to(strategy.device)

    def before_backward(self, strategy, **kwargs):
        if self.features is None:
            return
        n = len(strategy.mb_x)
        idx = torch.randint(len(self.features), (n,), device=self.features.device)
        logits = training_head(strategy)(self.features[idx])
        # lambda_stored * CE(g(v), y) on stored old-class features
        term = self.lambda_stored * F.cross_entropy(logits, self.labels[idx])
        strategy.loss = strategy.loss + term
        self.last_term = float(term.detach())

    def after_training_exp(self, strategy, **kwargs):
        self.features = self.labels = None

    def __getstate__(self):  # read again from the buffer at the next experience
        state = self.__dict__.copy()
        state["features"] = state["labels"] = None
        return state

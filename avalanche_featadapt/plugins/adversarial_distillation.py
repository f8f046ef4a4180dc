"""Feature distillation where the old classes lie: on current images pushed
toward the stored old-class features (ADC's images), not only on the current
images."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from ..features import feature_extractor_of, teacher_of
from ..validation.arguments import check_non_negative, check_positive
from ..validation.inputs import check_buffer_order, old_classes
from .adc import shared_adversarial_images
from .feature_buffer import FeatureBuffer

__all__ = ["AdversarialDistillation"]


class AdversarialDistillation(SupervisedPlugin, supports_distributed=True):
    """Cosine feature distillation on images that the old backbone maps near
    the old classes (docs/method.md, "Distillation where the old classes
    lie").

    Feature adaptation moves the stored features with an adapter phi_t fitted
    on feature pairs of the current images, and phi_t is least accurate on the
    old classes, where it has fewest pairs. The paper's distillation (Iscen et
    al., ECCV 2020, Sec. 3.1; :class:`DistillationRegularizer`) holds the
    features of the current images only. Before each experience this plugin
    pushes current images toward each old class's mean stored feature in the
    old backbone's space (:func:`~avalanche_featadapt.plugins.adc.
    adversarial_images`, after ADC, Goswami et al., CVPR 2024: 3 steps, 100
    images per class), and adds at every iteration

        lambda_adc * mean(1 - cos(h_t(x'), h_{t-1}(x')))

    on a batch of those images as large as the training batch. Less drift
    where the old classes lie leaves phi_t less to correct there. ADC uses the
    same images only to estimate drift; distilling on them is this package's
    addition. Nothing is stored: the images are made again from the
    current data in every experience.

    :param buffer: the :class:`FeatureBuffer` whose class means say where
        the old classes lie; it must be among the strategy's plugins too.
    :param lambda_adc: weight of the term; 0 turns it off.
    :param adc_steps: gradient steps toward each old class (ADC: 3).
    :param adc_step_size: each step's length, as a fraction of the images'
        mean L2 norm.
    :param adc_per_class: images pushed toward each old class (ADC: 100).
    :param feature_extractor: the backbone h; default
        ``strategy.model.feature_extractor``.
    """

    def __init__(
        self,
        *,
        buffer: FeatureBuffer,
        lambda_adc: float = 1.0,
        adc_steps: int = 3,
        adc_step_size: float = 0.1,
        adc_per_class: int = 100,
        feature_extractor: Optional[nn.Module] = None,
    ):
        super().__init__()
        if not isinstance(buffer, FeatureBuffer):
            raise ValueError("buffer must be a FeatureBuffer (the old classes' means).")
        check_non_negative("lambda_adc", lambda_adc)
        check_positive("adc_steps", adc_steps, integer=True)
        check_positive("adc_step_size", adc_step_size)
        check_positive("adc_per_class", adc_per_class, integer=True)
        self.buffer = buffer
        self.lambda_adc = lambda_adc
        self.adc_steps = int(adc_steps)
        self.adc_step_size = adc_step_size
        self.adc_per_class = int(adc_per_class)
        self.feature_extractor = feature_extractor
        self.images: Optional[torch.Tensor] = None
        self.targets: Optional[torch.Tensor] = None
        self.last_term: Optional[float] = None

    def before_training_exp(self, strategy, **kwargs):
        self.images = self.targets = None
        # without the buffer among the plugins, there would be nothing to read
        check_buffer_order(strategy, self, self.buffer, buffer_after=None)
        old = old_classes(self.buffer, strategy.experience)
        if self.lambda_adc == 0 or not old:
            return
        fe = feature_extractor_of(strategy, self.feature_extractor)
        teacher = teacher_of(strategy, fe)
        protos = {c: self.buffer.features_of(c).float().mean(0) for c in old}
        x, _ = shared_adversarial_images(
            strategy,
            teacher,
            strategy.experience.dataset,
            protos,
            steps=self.adc_steps,
            step_size=self.adc_step_size,
            per_class=self.adc_per_class,
            device=strategy.device,
        )
        if not len(x):  # no finite image to push
            return
        with torch.no_grad():
            t = torch.cat([teacher(b).flatten(1) for b in x.split(512)])
        self.images, self.targets = x, t

    def before_backward(self, strategy, **kwargs):
        if self.images is None:
            return
        fe = feature_extractor_of(strategy, self.feature_extractor)
        n = len(strategy.mb_x)
        idx = torch.randint(len(self.images), (n,), device=self.images.device)
        student = fe(self.images[idx]).flatten(1)
        # lambda_adc * mean(1 - cos(h_t(x'), h_{t-1}(x')))
        cos = F.cosine_similarity(student, self.targets[idx], dim=1)
        term = self.lambda_adc * (1 - cos).mean()
        strategy.loss = strategy.loss + term
        self.last_term = float(term.detach())

    def after_training_exp(self, strategy, **kwargs):
        self.images = self.targets = None

    def __getstate__(self):  # made again at the next experience
        state = self.__dict__.copy()
        state["images"] = state["targets"] = None
        return state

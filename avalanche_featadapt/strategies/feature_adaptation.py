"""FeatureAdaptationStrategy: Iscen et al., ECCV 2020, as an Avalanche
strategy composed of this package's plugins."""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Union

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin
from avalanche.training.plugins.evaluation import default_evaluator
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.nn import CrossEntropyLoss
from torch.optim import Optimizer

from ..features import release_caches
from ..model_split import split_model
from ..validation.arguments import check_device, check_fa_args, check_positive
from ..validation.inputs import check_experience, check_single_head
from ..models import AuxiliaryHeadModel, CosineIncrementalClassifier
from ..distributed import DistributedSync
from .hybrid import make_image_memory, stored_images
from .provisional import (
    evaluate_before_first_epoch,
    provisional_update,
    check_early_stopping,
)
from ..plugins import (
    AdapterTrainer,
    AdversarialDistillation,
    BatchNormFreezer,
    ClassifierRetrainer,
    DistillationRegularizer,
    FeatureBuffer,
    HerdingSelector,
    OneClassFreezer,
    StoredFeatureReplay,
)

__all__ = ["FeatureAdaptationStrategy"]


class FeatureAdaptationStrategy(SupervisedTemplate):
    """Memory-efficient incremental learning through feature adaptation
    (Iscen, Zhang, Lazebnik, Schmid, ECCV 2020, arXiv 2004.00713).

    Per experience (docs/method.md, steps 1-6): (1) train the backbone with CE plus
    distillation (:class:`DistillationRegularizer`), also on images pushed
    toward the old classes (:class:`AdversarialDistillation`); (2-3) learn an adapter
    phi_t from old to new features on the current images
    (:class:`AdapterTrainer`); (4) move every stored feature through phi_t
    and add the herded features of the new classes (:class:`FeatureBuffer`);
    (5) retrain the classifier on the buffer, class-balanced
    (:class:`ClassifierRetrainer`). Inference is
    ``classifier(feature_extractor(x))``; no image of an old class is kept.

    What it does with the user's model (docs/usage.md, "Using your own
    model"): by default (``train_head="auxiliary"``) the backbone learns
    through a cosine head that the strategy owns
    (:class:`~avalanche_featadapt.models.AuxiliaryHeadModel`), and the
    user's ``classifier`` is trained only on the buffer, after each
    experience. ``model(x)``, which Avalanche evaluates, is always the
    user's classifier on the user's backbone; the user's model is never
    rebuilt. Any head works: a fixed ``nn.Linear`` at least as wide as the
    largest class id + 1, or a growing one such as
    :class:`~avalanche_featadapt.models.CosineIncrementalClassifier`.
    Periodic evaluation (``eval_every``, so ``EarlyStoppingPlugin`` too)
    sees the model the experience would end with if it stopped there
    (:func:`~avalanche_featadapt.strategies.provisional.provisional_update`:
    steps 2-5 on the weights of the moment, undone after; one adapter fit).
    Streams with task labels are refused: the method is class-incremental.

    :param model: a model with ``feature_extractor`` and ``classifier``
        attributes, or any model together with ``last_layer_name``.
    :param feature_extractor: the backbone h (with ``classifier``).
    :param classifier: the head g_W (with ``feature_extractor``).
    :param last_layer_name: the name of ``model``'s final layer.
    :param optimizer: the backbone optimizer (over the model's parameters).
    :param criterion: the classification loss; CrossEntropy by default.
    :param memory_bytes: feature memory budget in bytes.
    :param mem_size: feature memory budget in stored features.
    :param feature_dtype: "int4" (16 levels, a float32 offset and step per
        feature), "int8" (one float32 scale per feature), "float16", or
        "float32", the paper's (docs/method.md, "Memory: dtype and hybrid").
    :param selector: exemplar selection; herding by default.
    :param adapt: False gives the "stale features" ablation (no adapter).
    :param adapter_kwargs: extra arguments of :class:`AdapterTrainer`
        (``hidden_dim``, ``epochs``, ``lr``, ``lambda_cls``, ``lambda_mse``,
        ``input_noise``, ``adc_steps``, ``clamp``...).
    :param lambda_kd: logit distillation weight.
    :param temperature: distillation temperature.
    :param lambda_fd: cosine feature distillation weight: LUCIR's less-forget
        constraint (Hou et al., CVPR 2019: 5 or 10 times sqrt(old / new
        classes)); 20 here (docs/ablations.md, "Stronger feature distillation").
    :param lambda_adc: weight of :class:`AdversarialDistillation`, the cosine
        feature distillation on current images pushed toward the old classes.
    :param lambda_stored: weight of :class:`StoredFeatureReplay`: stored
        old-class features in the training head's CE (docs/method.md). Neither
        is used with ``image_fraction > 0``.
    :param lambda_at: attention distillation weight (needs attention_layer).
    :param attention_layer: name of a Conv2d layer for attention distillation.
    :param train_head: ``"auxiliary"``: the backbone learns through the
        strategy's own cosine head, and the user's head is retrained on the
        buffer; ``"model"``: through the user's head (the paper's setting,
        which collapses with a linear head on ReLU features: docs/ablations.md).
    :param head_epochs: classifier retraining epochs on the buffer.
    :param head_lr: classifier retraining learning rate.
    :param freeze_bn: keep BatchNorm statistics fixed after the first
        experience (:class:`BatchNormFreezer`), so that distillation and the
        adapter work on the eval-mode features the buffer stores.
    :param freeze_one_class: keep the backbone as it is in a one-class
        experience after the first (:class:`OneClassFreezer`; docs/method.md,
        "Experiences of one class"); not used with ``image_fraction > 0``.
    :param image_fraction: the paper's "hybrid" memory: this fraction of
        ``memory_bytes`` keeps images (class-balanced, Avalanche's
        ``ReplayPlugin``), replayed through the backbone during training; the
        rest keeps features, which train the classifier. 0 keeps features
        only.
    :param train_mb_size, train_epochs, eval_mb_size, device, plugins,
        evaluator, eval_every: as in Avalanche's ``SupervisedTemplate``.
    """

    def __init__(
        self,
        *,
        model: Optional[nn.Module] = None,
        feature_extractor: Optional[nn.Module] = None,
        classifier: Optional[nn.Module] = None,
        last_layer_name: Optional[str] = None,
        optimizer: Optimizer,
        criterion=None,
        memory_bytes: Optional[int] = None,
        mem_size: Optional[int] = None,
        feature_dtype="int4",
        selector: Optional[Callable] = None,
        adapt: bool = True,
        adapter_kwargs: Optional[dict] = None,
        lambda_kd: float = 1.0,
        temperature: float = 2.0,
        lambda_fd: float = 20.0,
        lambda_adc: float = 1.0,
        lambda_stored: float = 3.0,
        lambda_at: float = 0.0,
        attention_layer: Optional[str] = None,
        train_head: str = "auxiliary",
        head_epochs: int = 100,
        head_lr: float = 1e-2,
        freeze_bn: bool = True,
        freeze_one_class: bool = True,
        image_fraction: float = 0.0,
        train_mb_size: int = 32,
        train_epochs: int = 1,
        eval_mb_size: Optional[int] = 256,
        device: Union[str, torch.device] = "cpu",
        plugins: Optional[Sequence[SupervisedPlugin]] = None,
        evaluator: Union[EvaluationPlugin, Callable[[], EvaluationPlugin]] = (
            default_evaluator
        ),
        eval_every: int = -1,
    ):
        if memory_bytes is None and mem_size is None:
            raise ValueError(
                "FeatureAdaptationStrategy needs a memory budget: pass "
                "memory_bytes= (e.g. 51200) and/or mem_size= (stored features)."
            )
        check_positive("memory_bytes", memory_bytes, allow_none=True, integer=True)
        check_positive("mem_size", mem_size, allow_none=True, integer=True)
        check_fa_args(locals())  # every other argument, by its own name
        if image_fraction > 0 and memory_bytes is None:
            raise ValueError("image_fraction > 0 (hybrid memory) needs memory_bytes=.")
        self.memory_bytes = memory_bytes
        self.image_fraction = image_fraction
        self.image_memory = None
        if not isinstance(optimizer, Optimizer):
            raise ValueError("optimizer must be a torch.optim.Optimizer.")
        check_device(device)
        # a multi-head model needs task labels: refused like a task-label stream
        check_single_head(type(self).__name__, model, feature_extractor, classifier)
        split = split_model(
            model=model,
            feature_extractor=feature_extractor,
            classifier=classifier,
            last_layer_name=last_layer_name,
        )
        if train_head not in ("auxiliary", "model"):
            raise ValueError(
                f"train_head must be 'auxiliary' or 'model', got {train_head!r}."
            )
        self.train_head = train_head
        if train_head == "auxiliary":  # its cosine head is made at the first exp
            split = AuxiliaryHeadModel.around(split)
        self.buffer = FeatureBuffer(
            mem_size=mem_size,
            memory_bytes=memory_bytes,
            feature_dtype=feature_dtype,
            selector=selector if selector is not None else HerdingSelector(),
        )
        self.distillation = DistillationRegularizer(
            lambda_kd=lambda_kd,
            temperature=temperature,
            lambda_fd=lambda_fd,
            lambda_at=lambda_at,
            attention_layer=attention_layer,
        )
        adapter_kwargs = dict(adapter_kwargs or {})
        if image_fraction > 0:  # hybrid: the stored images give pairs too
            adapter_kwargs.setdefault("extra_pairs", stored_images)
        self.adapter = (
            AdapterTrainer(buffer=self.buffer, **adapter_kwargs) if adapt else None
        )
        self.retrainer = ClassifierRetrainer(
            buffer=self.buffer, epochs=head_epochs, lr=head_lr
        )
        # Order matters within after_training_exp: adapt old features, add new
        # ones, retrain the head; all before the evaluator and periodic eval.
        own: List[SupervisedPlugin] = [self.distillation]
        if lambda_adc > 0 and image_fraction == 0:
            own.append(
                AdversarialDistillation(buffer=self.buffer, lambda_adc=lambda_adc)
            )
        if lambda_stored > 0 and image_fraction == 0:
            own.append(
                StoredFeatureReplay(buffer=self.buffer, lambda_stored=lambda_stored)
            )
        if freeze_bn:
            own.insert(0, BatchNormFreezer())
        if freeze_one_class and image_fraction == 0:
            own.insert(0, OneClassFreezer())
        if self.adapter is not None:
            own.append(self.adapter)
        own += [self.buffer, self.retrainer]
        if DistributedHelper.is_distributed:  # torchrun: docs/usage.md
            own.append(DistributedSync())
        super().__init__(
            model=split,
            optimizer=optimizer,
            criterion=criterion if criterion is not None else CrossEntropyLoss(),
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=eval_mb_size,
            device=device,
            plugins=own + list(plugins or []),
            evaluator=evaluator,
            eval_every=eval_every,
        )
        check_early_stopping(self.plugins, self.evaluator)

    def _before_training_exp(self, **kwargs):
        exp = self.experience
        check_experience(exp, type(self).__name__)
        if self.image_fraction > 0 and self.image_memory is None:
            make_image_memory(self, exp)
        if isinstance(self.model, AuxiliaryHeadModel):
            if self.model.aux_classifier is None:
                self.model.aux_classifier = self._make_aux_head(exp)
            # the backbone learns through the auxiliary head; teachers copied
            # by the plugins below answer with it too
            self.model.use_aux = True
        super()._before_training_exp(**kwargs)
        self._check_head_width()
        self._in_experience = True  # periodic evaluations are provisional

    def _make_aux_head(self, exp):
        x = exp.dataset.eval()[0][0].unsqueeze(0).to(self.device)
        fe = self.model.feature_extractor
        was = fe.training
        fe.eval()
        with torch.no_grad():
            dim = fe(x).flatten(1).shape[1]
        fe.train(was)
        return CosineIncrementalClassifier(dim, 2).to(self.device)

    def train(self, *args, **kwargs):
        try:
            return super().train(*args, **kwargs)
        finally:  # even after a failure, what users evaluate is their head
            self._in_experience = False
            if isinstance(self.model, AuxiliaryHeadModel):
                self.model.use_aux = False

    def eval(self, *args, **kwargs):
        if not getattr(self, "_in_experience", False):  # the user's own eval
            return super().eval(*args, **kwargs)
        # a periodic evaluation between epochs: of the model it would end with
        with provisional_update(self):
            return super().eval(*args, **kwargs)

    def _before_training_epoch(self, **kwargs):
        if self.clock.train_exp_epochs == 0:
            evaluate_before_first_epoch(self)
        super()._before_training_epoch(**kwargs)

    def _after_training_exp(self, **kwargs):
        self._in_experience = False
        if isinstance(self.model, AuxiliaryHeadModel):
            self.model.use_aux = False
        super()._after_training_exp(**kwargs)
        # the per-experience caches of the plugins are not needed any more
        release_caches(self)

    def _check_head_width(self):
        x = self.experience.dataset.eval()[0][0].unsqueeze(0).to(self.device)
        was = self.model.training
        self.model.eval()
        with torch.no_grad():
            width = self.model.classifier(self.model.feature_extractor(x)).shape[1]
        self.model.train(was)
        need = max(self.experience.classes_in_this_experience) + 1
        if width < need:
            raise ValueError(
                f"The classifier has {width} outputs but this experience has class "
                f"id {need - 1}. Use a head at least {need} wide, or a growing "
                "head (avalanche_featadapt.models.CosineIncrementalClassifier)."
            )

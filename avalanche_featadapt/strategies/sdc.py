"""SDCStrategy: an embedding network with nearest-prototype classification and
semantic drift compensation (Yu et al., CVPR 2020)."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from avalanche.models import TrainEvalModel
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin
from avalanche.training.plugins.evaluation import default_evaluator
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.optim import Optimizer

from ..model_split import split_model
from ..validation.arguments import check_device, check_positive
from ..validation.inputs import check_experience, check_single_head
from ..distributed import DistributedSync
from ..plugins import DistillationRegularizer, MaskedNCMClassifier, SDCPlugin

__all__ = ["SDCStrategy", "TripletLoss"]


class TripletLoss(nn.Module):
    """Batch-hard triplet loss on L2-normalised embeddings (the embedding
    loss of SDC's paper, Sec. 3): for each anchor, the farthest positive and
    the closest negative in the mini-batch,
    ``mean(relu(d(a, p) - d(a, n) + margin))``."""

    def __init__(self, margin: float = 0.3):
        super().__init__()
        check_positive("margin", margin)
        self.margin = margin

    def forward(self, embeddings, targets):
        z = F.normalize(embeddings, dim=1)
        d = torch.cdist(z, z)
        same = targets[:, None] == targets[None, :]
        pos = (d * same).max(1).values
        neg = d.masked_fill(same, float("inf")).min(1).values
        valid = torch.isfinite(neg)
        if not valid.any():
            return d.sum() * 0.0
        return F.relu(pos - neg + self.margin)[valid].mean()


class SDCStrategy(SupervisedTemplate):
    """Semantic Drift Compensation for class-incremental learning (Yu et al.,
    CVPR 2020), composed in Avalanche: the backbone is fine-tuned on each
    experience ("E-FT") or with feature distillation ("E-LwF"), classification
    is by nearest prototype (:class:`MaskedNCMClassifier`) and
    :class:`SDCPlugin` moves the old prototypes after each experience.

    :param model / feature_extractor / classifier / last_layer_name: the
        network, as for :class:`FeatureAdaptationStrategy`. With
        ``loss="triplet"`` the classifier is not used for training.
    :param optimizer: the backbone optimizer.
    :param loss: "ce" (cross-entropy through the classifier, default) or
        "triplet" (the paper's metric-learning loss).
    :param margin: the triplet margin.
    :param regularizer: "none" (E-FT+SDC) or "distill" (E-LwF+SDC: cosine
        feature distillation, plus logit KD with the CE loss).
    :param lambda_kd, lambda_fd: distillation weights for "distill".
    :param sigma: SDC's kernel width (0.3, official code).
    :param compensate: False evaluates the uncompensated base.
    """

    def __init__(
        self,
        *,
        model: Optional[nn.Module] = None,
        feature_extractor: Optional[nn.Module] = None,
        classifier: Optional[nn.Module] = None,
        last_layer_name: Optional[str] = None,
        optimizer: Optimizer,
        loss: str = "ce",
        margin: float = 0.3,
        regularizer: str = "none",
        lambda_kd: float = 1.0,
        lambda_fd: float = 1.0,
        sigma: float = 0.3,
        compensate: bool = True,
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
        if loss not in ("ce", "triplet"):
            raise ValueError(f"loss must be 'ce' or 'triplet', got {loss!r}.")
        if regularizer not in ("none", "distill"):
            raise ValueError(
                f"regularizer must be 'none' or 'distill', got {regularizer!r}."
            )
        check_device(device)
        # a multi-head model needs task labels: refused like a task-label stream
        check_single_head(type(self).__name__, model, feature_extractor, classifier)
        split = split_model(
            model=model,
            feature_extractor=feature_extractor,
            classifier=classifier,
            last_layer_name=last_layer_name,
        )
        train_head = split.classifier if loss == "ce" else nn.Identity()
        net = TrainEvalModel(
            split.feature_extractor,
            train_classifier=train_head,
            eval_classifier=MaskedNCMClassifier(normalize=True),
        )
        self.sdc = SDCPlugin(sigma=sigma, compensate=compensate)
        own = [self.sdc]
        if DistributedHelper.is_distributed:  # torchrun: docs/usage.md
            own.append(DistributedSync())
        if regularizer == "distill":
            own.insert(
                0,
                DistillationRegularizer(
                    lambda_kd=lambda_kd if loss == "ce" else 0.0, lambda_fd=lambda_fd
                ),
            )
        criterion = nn.CrossEntropyLoss() if loss == "ce" else TripletLoss(margin)
        super().__init__(
            model=net,
            optimizer=optimizer,
            criterion=criterion,
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=eval_mb_size,
            device=device,
            plugins=own + list(plugins or []),
            evaluator=evaluator,
            eval_every=eval_every,
        )

    def _before_training_exp(self, **kwargs):
        check_experience(self.experience, type(self).__name__)
        super()._before_training_exp(**kwargs)

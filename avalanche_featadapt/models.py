"""Models: a small CNN for SplitDigits, ResNet-32 for CIFAR, ResNet-18 for
ImageNet, and a cosine-normalised incremental head.

Every model here is a :class:`FeatureClassifierModel`: ``classifier(
feature_extractor(x))``, the split that feature adaptation, iCaRL and SDC need.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from avalanche.models import IncrementalClassifier
from torch import nn

from .validation.inputs import check_float32
from .checkpoint.modules import rebuild_head, register_rebuild

__all__ = [
    "FeatureClassifierModel",
    "LayerInputTap",
    "AuxiliaryHeadModel",
    "CosineIncrementalClassifier",
    "DigitsCNN",
    "make_digits_model",
    "ResNet32Features",
    "make_resnet32",
    "make_resnet18",
]


class FeatureClassifierModel(nn.Module):
    """``classifier(feature_extractor(x))``, with both parts as attributes.

    Avalanche's ``ICaRL`` takes the same two modules; Avalanche's
    ``FeatureExtractorModel`` names its head ``train_classifier``, and both
    layouts are accepted by :func:`avalanche_featadapt.split_model`.

    :param source: the user's model the two parts come from, if any (set by
        ``split_model``; not a submodule, so it adds no state-dict keys).
    """

    def __init__(self, feature_extractor, classifier, *, source=None):
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.__dict__["_source"] = source

    def user_state_dict(self) -> dict:
        """The state dict of the user's own model, which loads with
        ``load_state_dict(strict=True)`` into a new instance of its class:
        ``torch.save(strategy.model.user_state_dict(), "model.pt")``. That of
        ``strategy.model`` has this wrapper's keys (``feature_extractor.model.``
        with ``last_layer_name=``, the auxiliary head's ``aux_classifier.``)."""
        own = FeatureClassifierModel(self.feature_extractor, self.classifier)
        source = self.__dict__.get("_source")  # absent if unpickled from 0.2
        return (source if source is not None else own).state_dict()

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


class LayerInputTap(nn.Module):
    """The input of ``model``'s layer ``layer_name``, as a feature extractor,
    without changing ``model``: ``model(x)`` still returns its logits.

    Avalanche's ``FeatureReplay`` replaces the last layer by ``nn.Identity``
    in the user's model; this class reads the layer's input with a forward
    hook that lives only for the duration of one call instead, so the user's
    model, and every other reference to it, is left as it was.

    :param model: the user's whole model.
    :param layer_name: the name of its classifier layer (e.g. ``"fc"``).
    """

    def __init__(self, model: nn.Module, layer_name: str):
        super().__init__()
        self.model = model
        self.layer_name = layer_name

    def forward(self, x):
        seen = []
        layer = self.model.get_submodule(self.layer_name)
        handle = layer.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
        try:
            self.model(x)
        finally:
            handle.remove()
        if not seen:
            raise RuntimeError(
                f"{type(self.model).__name__}.forward never called its layer "
                f"{self.layer_name!r}; pass the name of the layer that produces "
                "the logits."
            )
        return seen[-1]


class AuxiliaryHeadModel(FeatureClassifierModel):
    """``classifier(feature_extractor(x))``, plus a cosine head of the
    strategy's own, ``aux_classifier``, that trains the backbone.

    ``forward`` answers with the user's ``classifier`` unless
    :attr:`use_aux` is set; the strategy sets it only while the backbone
    learns, so everything Avalanche evaluates is the user's model. Why
    (docs/usage.md, "Using your own model"): a linear head trained by
    cross-entropy on the newest classes can shrink the features towards zero
    while its own weights grow, and cosine feature distillation, being
    scale-free, does not stop it; a cosine head cannot do that.

    A model that is not float32 is refused (the cosine head, like the
    stored features, is float32), and so are features that are not 2-D (a
    feature map (N, C, H, W) of a backbone without pooling).

    :param feature_extractor: the backbone h.
    :param classifier: the user's head g_W, used for inference.
    :param aux_classifier: the head that trains the backbone.
    :param source: the user's model, as in :class:`FeatureClassifierModel`.
    """

    def __init__(self, feature_extractor, classifier, aux_classifier, *, source=None):
        check_float32("FeatureAdaptationStrategy", feature_extractor, classifier)
        super().__init__(feature_extractor, classifier, source=source)
        self.aux_classifier = aux_classifier
        self.use_aux = False

    @classmethod
    def around(cls, split: FeatureClassifierModel) -> "AuxiliaryHeadModel":
        """``split``'s two parts, with no auxiliary head yet; the user's model
        is still ``split``'s source, or ``split`` itself."""
        source = split.__dict__.get("_source")
        source = source if source is not None else split
        return cls(split.feature_extractor, split.classifier, None, source=source)

    def forward(self, x):
        if not self.use_aux:
            return self.classifier(self.feature_extractor(x))
        features = self.feature_extractor(x)
        if features.dim() != 2:
            raise ValueError(
                f"Features must be 2-D (n, d), got {tuple(features.shape)} from "
                "the feature extractor: feature adaptation stores and adapts one "
                "vector per image. End the backbone with pooling and a flatten "
                "(e.g. nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), "
                "nn.Flatten())), or pass last_layer_name= the layer that takes "
                "the features."
            )
        return self.aux_classifier(features)


class CosineIncrementalClassifier(IncrementalClassifier):
    """Avalanche's ``IncrementalClassifier`` with a cosine-normalised layer.

    ``logits = scale * <w_c / ||w_c||, f / ||f||>`` (Hou et al., CVPR 2019,
    "Learning a Unified Classifier Incrementally via Rebalancing").

    Why not Avalanche's own ``CosineIncrementalClassifier``: in 0.6 it remaps
    class ids to arrival order and its ``num_classes>0`` path marks classes
    ``range(5)`` as seen whatever ``num_classes`` is. This class inherits the
    growth and the masking of unseen classes from ``IncrementalClassifier``
    and only changes ``forward``.

    Feature norms grow over experiences under distillation
    (docs/method.md, "Beyond the paper"); a cosine head makes the classifier blind to
    the norm, so stored (adapted) and live features are compared by direction
    only.

    :param in_features: feature dimension.
    :param initial_out_features: initial number of class units (grows).
    :param scale: fixed logit scale (temperature inverse).
    """

    def __init__(
        self, in_features: int, initial_out_features: int = 2, *, scale: float = 16.0
    ):
        super().__init__(in_features, initial_out_features)
        self.scale = float(scale)

    def forward(self, x, **kwargs):
        w = F.normalize(self.classifier.weight, dim=1)
        out = self.scale * F.linear(F.normalize(x, dim=1), w)
        if self.masking:
            out = out.masked_fill(~self.active_units.bool(), self.mask_value)
        return out


register_rebuild(CosineIncrementalClassifier, rebuild_head(CosineIncrementalClassifier))


class DigitsCNN(nn.Module):
    """Feature extractor for 1x8x8 digits with a 64-d feature (larger images,
    e.g. 28x28 Fashion-MNIST, are pooled to the same 2x2 grid).

        The last layer is ``Linear -> BatchNorm1d`` with no ReLU: a ReLU right
        before the classifier lets feature units die (89 % dead after five
        experiences under Naive; docs/method.md, "Beyond the paper"), and stored
        features would then live in a shrinking subspace.
    """

    def __init__(self, feature_dim: int = 64, width: int = 32, in_channels: int = 1):
        super().__init__()
        self.feature_dim = feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 2x2 for 8x8 digits
            nn.AdaptiveAvgPool2d(2),  # larger images (identity on digits)
            nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width * 4, feature_dim)
        self.bn = nn.BatchNorm1d(feature_dim)

    def forward(self, x):
        f = self.fc(self.body(x))
        if self.training and f.shape[0] == 1:
            # A last mini-batch of one image cannot be batch-normalised in
            # training mode; use the running statistics for it.
            bn = self.bn
            return F.batch_norm(
                f,
                bn.running_mean,
                bn.running_var,
                bn.weight,
                bn.bias,
                False,
                0.0,
                bn.eps,
            )
        return self.bn(f)


def make_digits_model(
    *, feature_dim: int = 64, head: str = "cosine", initial_classes: int = 2
) -> FeatureClassifierModel:
    """The SplitDigits model: :class:`DigitsCNN` plus a growing head.

    :param head: ``"cosine"`` (:class:`CosineIncrementalClassifier`, default)
        or ``"linear"`` (Avalanche's ``IncrementalClassifier``).
    :param initial_classes: the head's initial width (it grows when a larger
        class id arrives; Avalanche's iCaRL needs the full width from the start).
    """
    return FeatureClassifierModel(
        DigitsCNN(feature_dim), _head(head, feature_dim, initial_classes)
    )


def _head(head: str, feature_dim: int, initial_classes: int = 2) -> nn.Module:
    if head == "cosine":
        return CosineIncrementalClassifier(feature_dim, initial_classes)
    if head == "linear":
        return IncrementalClassifier(feature_dim, initial_classes)
    raise ValueError(f"head must be 'cosine' or 'linear', got {head!r}")


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.short is None else self.short(x)))


class ResNet32Features(nn.Module):
    """ResNet-32 for 32x32 images (He et al., 2016, CIFAR variant), 64-d
    feature: the backbone of iCaRL, LUCIR and the feature-adaptation paper's
    CIFAR-100 experiments."""

    def __init__(self, in_channels: int = 3, n: int = 5):
        super().__init__()
        self.feature_dim = 64
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(_BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.layers(self.stem(x))).flatten(1)


def make_resnet32(*, head: str = "cosine", in_channels: int = 3, initial_classes=2):
    """ResNet-32 (64-d features) with a growing head, for CIFAR-100."""
    return FeatureClassifierModel(
        ResNet32Features(in_channels), _head(head, 64, initial_classes)
    )


def make_resnet18(*, head: str = "cosine", initial_classes: int = 2):
    """torchvision's ResNet-18 (512-d features, random init: no weights are
    downloaded) with a growing head, for ImageNet subsets."""
    from torchvision.models import resnet18

    backbone = resnet18(weights=None)
    backbone.fc = nn.Identity()
    return FeatureClassifierModel(backbone, _head(head, 512, initial_classes))

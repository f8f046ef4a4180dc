"""The models of the registry's benchmarks, chosen by the shape (C, H, W)
of an image: each function takes the shape and returns a model factory,
called as ``factory(initial_classes=...)`` for a fresh model."""

from __future__ import annotations

__all__ = [
    "by_size",
    "by_size_gpu",
    "digits_cnn",
    "resnet18",
    "resnet32",
    "small_cnn",
]


def small_cnn(shape):
    """The small CNN (:class:`~avalanche_featadapt.models.DigitsCNN` at width
    16, 64-d feature, cosine head) for images of any size (adaptive pooling)
    of ``shape`` (C x H x W)."""

    def factory(*, initial_classes: int = 2, width: int = 16):
        from ..models import CosineIncrementalClassifier, DigitsCNN
        from ..models import FeatureClassifierModel

        kw = {"in_channels": shape[0]} if shape[0] != 1 else {}
        return FeatureClassifierModel(
            DigitsCNN(64, width=width, **kw),
            CosineIncrementalClassifier(64, initial_classes),
        )

    return factory


def digits_cnn(shape):
    from ..models import make_digits_model

    return make_digits_model


def resnet32(shape):
    from ..models import make_resnet32

    return lambda **kw: make_resnet32(in_channels=shape[0], **kw)


def resnet18(shape):
    from ..models import make_resnet18

    return make_resnet18


def by_size(shape):
    """Images of up to 64 x 64 pixels: :func:`small_cnn`; larger ones:
    ResNet-18 (the paper's ImageNet network)."""
    return small_cnn(shape) if shape[1] * shape[2] <= 64 * 64 else resnet18(shape)


def by_size_gpu(shape):
    """On a GPU: ResNet-32 up to 64 x 64 pixels (CIFAR), ResNet-18 above."""
    return resnet32(shape) if shape[1] * shape[2] <= 64 * 64 else resnet18(shape)

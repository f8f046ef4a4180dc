"""How each strategy of the comparison is built: one :class:`Builder` per
constructor, held by the registry's records (``StrategySpec.builder``), so
that a record says what it builds and with which keyword arguments.
:func:`~avalanche_featadapt.compare.build.build_strategy` makes what every
strategy shares (the model, Adam, the batch sizes, the epochs, the device,
the evaluator) and hands it to the record's builder. Nothing here imports
torch or Avalanche before a strategy is built (``featadapt list`` reads the
records)."""

from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

__all__ = ["Builder", "Parts", "FA", "ICARL", "JOINT", "LWF", "NAIVE", "REPLAY", "SDC"]


@dataclass(frozen=True)
class Parts:
    """What every strategy is built from.

    :param name: the strategy's registry name (for error messages).
    :param model: its fresh model (``feature_extractor`` and ``classifier``).
    :param benchmark: the Avalanche benchmark.
    :param memory_bytes: the budget in bytes (None without one).
    :param shared: the keyword arguments every strategy takes: optimizer,
        train_mb_size, train_epochs, eval_mb_size, device, evaluator.
    :param plugins: plugins to run before the strategy's own.
    """

    name: str
    model: Any
    benchmark: Any
    memory_bytes: Optional[int]
    shared: Dict[str, Any]
    plugins: Tuple = ()


def _features(hyperparameters: dict) -> str:
    return "features"


def _images(hyperparameters: dict) -> str:
    return "images"


def _prototypes(hyperparameters: dict) -> str:
    return "class prototypes"


def _fa_holds(hyperparameters: dict) -> str:
    """FA's memory: 4-bit (or other) features, with images in the hybrid."""
    hybrid = hyperparameters.get("image_fraction", 0) > 0
    return "images + features" if hybrid else "features"


@dataclass(frozen=True)
class Builder:
    """How the comparison builds the strategies of one constructor.

    :param build: ``build(parts, hyperparameters)`` -> the strategy
        (:class:`Parts`; the record's hyperparameters with the overrides).
    :param constructor: ``"module:Class"`` whose keyword arguments are the
        hyperparameters that ``--set`` may change; "" for a strategy that
        takes the shared settings only.
    :param full_head: whether the model is built full width,
        ``model_factory(initial_classes=n)`` (Avalanche's iCaRL copies its
        model into a teacher of the first experience's shape).
    :param takes_plugins: whether ``plugins=`` may run before its own.
    :param holds: ``holds(hyperparameters)``: what its memory holds (the
        strategies table of docs/comparison.md).
    :param drift: how ``DriftMetric`` measures it (the drift plot's label).
    :param holds_all: ``holds_all(hyperparameters, memory_bytes, feature_dim,
        most_per_class, n_classes)``: whether that budget holds every
        training sample of every class, so that any larger budget gives the
        same run (the comparison runs it once for all of them); None: never
        assumed.
    """

    build: Callable[[Parts, dict], Any]
    constructor: str = ""
    full_head: bool = False
    takes_plugins: bool = False
    holds: Callable[[dict], str] = _features
    drift: str = ""
    holds_all: Optional[Callable[..., bool]] = None

    def constructor_class(self) -> Optional[type]:
        """The class named by :attr:`constructor` (imported now); None if
        it has none."""
        if not self.constructor:
            return None
        module, _, name = self.constructor.partition(":")
        return getattr(importlib.import_module(module), name)


def icarl_memory_size(n_images: int, classes_per_step) -> int:
    """The largest iCaRL ``memory_size`` that never holds more than
    ``n_images``: Avalanche's iCaRL keeps ``ceil(memory_size / k)`` images of
    each of k classes, which can exceed ``memory_size``."""
    seen = [sum(classes_per_step[: i + 1]) for i in range(len(classes_per_step))]
    for m in range(n_images, 0, -1):
        if all(math.ceil(m / k) * k <= n_images for k in seen):
            return m
    raise ValueError(
        f"The budget holds {n_images} images, too few for {seen[-1]} classes; "
        "raise --memory-bytes."
    )


def _ce():
    import torch

    return torch.nn.CrossEntropyLoss()


def _n_images(p: Parts) -> int:
    """How many images (8-bit pixels each) the budget holds."""
    from ..memory import images_in_budget

    x0 = p.benchmark.train_stream[0].dataset.eval()[0][0]
    n_images = images_in_budget(p.memory_bytes, x0)
    if n_images < 1:
        raise ValueError(
            f"{p.name}: memory_bytes={p.memory_bytes} holds no image of "
            f"{x0.numel()} bytes; raise --memory-bytes."
        )
    return n_images


def _naive(p: Parts, hp: dict):
    from avalanche.training import Naive

    return Naive(model=p.model, criterion=_ce(), plugins=list(p.plugins), **p.shared)


def _joint(p: Parts, hp: dict):
    from avalanche.training import JointTraining

    return JointTraining(model=p.model, criterion=_ce(), **p.shared)


def _lwf(p: Parts, hp: dict):
    from avalanche.training import LwF

    plugins = list(p.plugins)
    return LwF(model=p.model, criterion=_ce(), plugins=plugins, **hp, **p.shared)


def _replay(p: Parts, hp: dict):
    from avalanche.training import Naive
    from avalanche.training.plugins import ReplayPlugin
    from avalanche.training.storage_policy import ClassBalancedBuffer

    ce, n_images = _ce(), _n_images(p)
    policy = ClassBalancedBuffer(max_size=n_images, adaptive_size=True)
    plugin = ReplayPlugin(mem_size=n_images, storage_policy=policy)
    plugins = [*p.plugins, plugin]
    return Naive(model=p.model, criterion=ce, plugins=plugins, **p.shared)


def _icarl(p: Parts, hp: dict):
    from avalanche.training import ICaRL

    from ..plugins import MaskedNCMClassifier

    n_images = _n_images(p)
    icarl = ICaRL(
        feature_extractor=p.model.feature_extractor,
        classifier=p.model.classifier,
        memory_size=icarl_memory_size(n_images, p.benchmark.n_classes_per_exp),
        buffer_transform=None,
        **hp,
        **p.shared,
    )
    # Avalanche 0.6's iCaRL fills the means of classes not seen yet with
    # zero vectors, which its NCMClassifier can predict (accuracy below
    # chance before the last experience); mask them instead.
    icarl.model.eval_classifier = MaskedNCMClassifier(normalize=True)
    return icarl


def _sdc(p: Parts, hp: dict):
    from ..strategies import SDCStrategy

    return SDCStrategy(model=p.model, **hp, **p.shared)


def _fa(p: Parts, hp: dict):
    from ..strategies import FeatureAdaptationStrategy

    return FeatureAdaptationStrategy(
        model=p.model, memory_bytes=p.memory_bytes, **hp, **p.shared
    )


def _fa_holds_all(hp, memory_bytes, feature_dim, most_per_class, n_classes) -> bool:
    """FA's feature memory alone (no images, no ``mem_size``): each of the
    last step's classes gets ``capacity // n_classes`` features or more, and
    herding keeps all n rows of a class in the same order for any quota of n
    or more; earlier steps have fewer classes and larger quotas."""
    from ..plugins.feature_codec import bytes_per_feature
    from ..strategies import FeatureAdaptationStrategy

    if hp.get("image_fraction", 0) > 0 or hp.get("mem_size") is not None:
        return False
    default = inspect.signature(FeatureAdaptationStrategy).parameters["feature_dtype"]
    dtype = hp.get("feature_dtype", default.default)
    capacity = memory_bytes // bytes_per_feature(feature_dim, dtype)
    return capacity // n_classes >= most_per_class


_STRATEGIES = "avalanche_featadapt.strategies"
NAIVE = Builder(_naive, takes_plugins=True)
JOINT = Builder(_joint)
LWF = Builder(_lwf, "avalanche.training:LwF", takes_plugins=True)
REPLAY = Builder(_replay, takes_plugins=True, holds=_images)
ICARL = Builder(_icarl, "avalanche.training:ICaRL", full_head=True, holds=_images)
SDC = Builder(
    _sdc, f"{_STRATEGIES}:SDCStrategy", holds=_prototypes, drift="SDC: per class mean"
)
FA = Builder(
    _fa,
    f"{_STRATEGIES}:FeatureAdaptationStrategy",
    holds=_fa_holds,
    drift="FA: per feature",
    holds_all=_fa_holds_all,
)

"""Plugins: each is one Avalanche ``SupervisedPlugin`` usable alone."""

from .adapter import AdapterTrainer, FeatureAdapter
from .classifier_retrainer import ClassifierRetrainer
from .distillation import DistillationRegularizer
from .feature_buffer import FeatureBuffer
from .herding import HerdingSelector

__all__ = [
    "AdapterTrainer",
    "FeatureAdapter",
    "ClassifierRetrainer",
    "DistillationRegularizer",
    "FeatureBuffer",
    "HerdingSelector",
]

from .sdc import MaskedNCMClassifier, SDCPlugin, compensate_drift  # noqa: E402

__all__ += ["MaskedNCMClassifier", "SDCPlugin", "compensate_drift"]

"""Plugins: each is one Avalanche ``SupervisedPlugin`` usable alone."""

from .adapter import AdapterTrainer, FeatureAdapter
from .adversarial_distillation import AdversarialDistillation
from .batchnorm_freezer import BatchNormFreezer
from .classifier_retrainer import ClassifierRetrainer
from .distillation import DistillationRegularizer
from .feature_buffer import FeatureBuffer
from .herding import HerdingSelector
from .one_class import OneClassFreezer
from .stored_feature_replay import StoredFeatureReplay

__all__ = [
    "AdapterTrainer",
    "AdversarialDistillation",
    "BatchNormFreezer",
    "FeatureAdapter",
    "ClassifierRetrainer",
    "DistillationRegularizer",
    "FeatureBuffer",
    "HerdingSelector",
    "OneClassFreezer",
    "StoredFeatureReplay",
]

from .sdc import MaskedNCMClassifier, SDCPlugin, compensate_drift  # noqa: E402

__all__ += ["MaskedNCMClassifier", "SDCPlugin", "compensate_drift"]

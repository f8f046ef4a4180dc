"""avalanche-featadapt: memory-efficient feature adaptation for
class-incremental learning (Iscen et al., ECCV 2020) in Avalanche."""

from ._utils import split_model
from .benchmarks import SplitDigits
from .models import (
    CosineIncrementalClassifier,
    DigitsCNN,
    FeatureClassifierModel,
    make_digits_model,
)
from .plugins import (
    AdapterTrainer,
    BatchNormFreezer,
    ClassifierRetrainer,
    DistillationRegularizer,
    FeatureAdapter,
    FeatureBuffer,
    HerdingSelector,
)
from .strategies import FeatureAdaptationStrategy

__version__ = "0.1.0"

__all__ = [
    "AdapterTrainer",
    "BatchNormFreezer",
    "ClassifierRetrainer",
    "CosineIncrementalClassifier",
    "DigitsCNN",
    "DistillationRegularizer",
    "FeatureAdapter",
    "FeatureAdaptationStrategy",
    "FeatureBuffer",
    "FeatureClassifierModel",
    "HerdingSelector",
    "SplitDigits",
    "make_digits_model",
    "split_model",
]

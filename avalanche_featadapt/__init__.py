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
    AdversarialDistillation,
    BatchNormFreezer,
    ClassifierRetrainer,
    DistillationRegularizer,
    FeatureAdapter,
    FeatureBuffer,
    HerdingSelector,
    OneClassFreezer,
    StoredFeatureReplay,
)
from .plugins import MaskedNCMClassifier, SDCPlugin, compensate_drift
from .strategies import FeatureAdaptationStrategy, SDCStrategy, TripletLoss
from .memory import memory_bytes_of
from .metrics import (
    BACKBONE_LOSS,
    BackboneLoss,
    DriftMetric,
    MemoryBytes,
    MetricsCSVLogger,
)
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__version__ = "0.2.0"

__all__ = [
    "BACKBONE_LOSS",
    "BackboneLoss",
    "CheckpointError",
    "DriftMetric",
    "MaskedNCMClassifier",
    "MemoryBytes",
    "MetricsCSVLogger",
    "SDCPlugin",
    "SDCStrategy",
    "TripletLoss",
    "compensate_drift",
    "load_checkpoint",
    "memory_bytes_of",
    "save_checkpoint",
    "AdapterTrainer",
    "AdversarialDistillation",
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
    "OneClassFreezer",
    "SplitDigits",
    "StoredFeatureReplay",
    "make_digits_model",
    "split_model",
]

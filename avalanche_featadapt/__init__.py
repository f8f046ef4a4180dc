"""avalanche-featadapt: memory-efficient feature adaptation for
class-incremental learning (Iscen et al., ECCV 2020) in Avalanche.

The names below are imported on first use (PEP 562), so that ``featadapt
--help`` and ``featadapt list`` start without importing torch or Avalanche;
``from avalanche_featadapt import X`` works as usual."""

from __future__ import annotations

from .lazy import lazy_names

__version__ = "0.4.0"

# name -> the submodule that defines it
_HOMES = {
    "split_model": ".model_split",
    "SplitDigits": ".benchmarks",
    "CosineIncrementalClassifier": ".models",
    "DigitsCNN": ".models",
    "FeatureClassifierModel": ".models",
    "make_digits_model": ".models",
    "AdapterTrainer": ".plugins",
    "AdversarialDistillation": ".plugins",
    "BatchNormFreezer": ".plugins",
    "ClassifierRetrainer": ".plugins",
    "DistillationRegularizer": ".plugins",
    "FeatureAdapter": ".plugins",
    "FeatureBuffer": ".plugins",
    "HerdingSelector": ".plugins",
    "OneClassFreezer": ".plugins",
    "StoredFeatureReplay": ".plugins",
    "MaskedNCMClassifier": ".plugins",
    "SDCPlugin": ".plugins",
    "compensate_drift": ".plugins",
    "FeatureAdaptationStrategy": ".strategies",
    "SDCStrategy": ".strategies",
    "TripletLoss": ".strategies",
    "memory_bytes_of": ".memory",
    "BACKBONE_LOSS": ".metrics",
    "BackboneLoss": ".metrics",
    "DriftMetric": ".metrics",
    "MemoryBytes": ".metrics",
    "MetricsCSVLogger": ".metrics",
    "CheckpointError": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "save_checkpoint": ".checkpoint",
}

__all__ = sorted(_HOMES, key=str.lower)


__getattr__, __dir__ = lazy_names(__name__, _HOMES)

from .feature_adaptation import FeatureAdaptationStrategy

__all__ = ["FeatureAdaptationStrategy"]

from .feature_adaptation import FeatureAdaptationStrategy
from .sdc import SDCStrategy, TripletLoss

__all__ = ["FeatureAdaptationStrategy", "SDCStrategy", "TripletLoss"]

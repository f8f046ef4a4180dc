"""A user's model as a feature extractor and a classifier
(:func:`split_model`), the split that feature adaptation, iCaRL and SDC
need (docs/usage.md, "Using your own model"). The wrappers it returns are
in :mod:`avalanche_featadapt.models`."""

from __future__ import annotations

from typing import Optional

from torch import nn

from .models import FeatureClassifierModel, LayerInputTap

__all__ = ["split_model"]


def split_model(
    *,
    model: Optional[nn.Module] = None,
    feature_extractor: Optional[nn.Module] = None,
    classifier: Optional[nn.Module] = None,
    last_layer_name: Optional[str] = None,
) -> FeatureClassifierModel:
    """Return a :class:`FeatureClassifierModel` from one of the accepted forms:

    - ``feature_extractor=`` and ``classifier=`` (as Avalanche's ``ICaRL``);
    - ``model=`` with ``feature_extractor`` and ``classifier`` (or
      ``train_classifier``, Avalanche's ``FeatureExtractorModel``) attributes;
    - ``model=`` and ``last_layer_name=``: that layer is the classifier and
      its input is the feature (:class:`~avalanche_featadapt.models.
      LayerInputTap`); ``model`` itself is not changed, so ``model(x)`` keeps
      returning logits.
    """
    if feature_extractor is not None or classifier is not None:
        if model is not None or feature_extractor is None or classifier is None:
            raise ValueError(
                "Pass either feature_extractor= and classifier= together, or "
                "model= (optionally with last_layer_name=), not a mix."
            )
        return _checked(FeatureClassifierModel(feature_extractor, classifier))
    if model is None:
        raise ValueError(
            "No model given: pass feature_extractor= and classifier=, or model= "
            "with last_layer_name= naming its final (classifier) layer."
        )
    if last_layer_name is not None:
        head = _get_submodule(model, last_layer_name)
        return _checked(
            FeatureClassifierModel(
                LayerInputTap(model, last_layer_name), head, source=model
            )
        )
    if isinstance(model, FeatureClassifierModel):
        return _checked(model)
    fe = getattr(model, "feature_extractor", None)
    head = getattr(model, "classifier", getattr(model, "train_classifier", None))
    if isinstance(fe, nn.Module) and isinstance(head, nn.Module):
        return _checked(FeatureClassifierModel(fe, head, source=model))
    names = [n for n, _ in model.named_children()]
    raise ValueError(
        f"Cannot split {type(model).__name__} into a feature extractor and a "
        f"classifier: it has no 'feature_extractor'/'classifier' attributes. "
        f"Pass last_layer_name= naming its final layer (children: {names}), "
        "or pass feature_extractor= and classifier= separately."
    )


def _checked(split: FeatureClassifierModel) -> FeatureClassifierModel:
    """Refuse a head that is not a trainable layer (e.g. an ``nn.Identity``
    left by an earlier split): the strategy retrains the head."""
    head = split.classifier
    if not any(p.requires_grad for p in head.parameters()):
        what = (
            "an nn.Identity (the model looks already split, e.g. by Avalanche's "
            "FeatureReplay)"
            if isinstance(head, nn.Identity)
            else f"a {type(head).__name__} with no trainable parameters"
        )
        raise ValueError(
            f"The classifier is {what}. Pass the model with its real output "
            "layer (and last_layer_name= naming it), or feature_extractor= and a "
            "trainable classifier=."
        )
    return split


def _get_submodule(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        raise ValueError(
            f"{type(model).__name__} has no layer named {name!r}; "
            f"its layers are: {names}"
        ) from None

"""Argument checks of the constructors: each refusal is a ValueError that
names the argument and says what to pass (Avalanche asserts, or trains on
nothing)."""

from __future__ import annotations

import math

import torch

__all__ = [
    "check_bool",
    "check_count",
    "check_device",
    "check_fa_args",
    "check_module",
    "check_non_negative",
    "check_positive",
    "check_training_args",
]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_positive(name: str, value, *, allow_none=False, integer=False):
    """Raise a ValueError naming the argument if value is not a finite
    number > 0 (NaN and inf are refused: a NaN weight would silently turn a
    term off, as every comparison with NaN is false)."""
    if value is None and allow_none:
        return
    ok = _is_number(value) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{name} must be {kind}, got {value!r}.{_finite(value)}")


def check_count(name: str, value):
    """Raise a ValueError naming the argument if value is not an int >= 0
    (a number of experiences, say)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}.")


def check_non_negative(name: str, value):
    """Raise a ValueError naming the argument if value is not a finite
    number >= 0 (0 turns a loss term off)."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{name} must be a number >= 0 (0 turns it off), got {value!r}."
            + _finite(value)
        )


def _finite(value) -> str:
    if _is_number(value) and not math.isfinite(value):
        return " NaN and inf are refused: pass a finite number."
    return ""


def check_bool(name: str, value):
    """Refuse anything but True/False (``residual='no'`` is truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


def check_module(name: str, value, *, allow_none=True):
    """Refuse a model part that is not a ``torch.nn.Module``."""
    if value is None and allow_none:
        return
    if not isinstance(value, torch.nn.Module):
        raise ValueError(
            f"{name} must be a torch.nn.Module, got {type(value).__name__} "
            f"{value!r:.60}."
        )


def check_training_args(*, train_mb_size, train_epochs, eval_mb_size, plugins):
    """The arguments every Avalanche ``SupervisedTemplate`` takes, checked
    with their names (Avalanche asserts, or trains on nothing)."""
    check_positive("train_mb_size", train_mb_size, integer=True)
    check_positive("train_epochs", train_epochs, integer=True)
    check_positive("eval_mb_size", eval_mb_size, allow_none=True, integer=True)
    if plugins is None:
        return
    from avalanche.core import BasePlugin

    if not isinstance(plugins, (list, tuple)):
        raise ValueError(
            f"plugins must be a list of Avalanche plugins, got "
            f"{type(plugins).__name__} {plugins!r:.60}; e.g. plugins=[ReplayPlugin(...)]."
        )
    for i, p in enumerate(plugins):
        if not isinstance(p, BasePlugin):
            raise ValueError(
                f"plugins[{i}] is a {type(p).__name__}, not an Avalanche plugin "
                "(a SupervisedPlugin instance)."
            )


def check_fa_args(args: dict):
    """FeatureAdaptationStrategy's arguments, each refused by its own name
    (``head_epochs=0`` names ``head_epochs``, not the plugin's ``epochs``)."""
    for name in ("model", "feature_extractor", "classifier"):
        check_module(name, args.get(name))
    for name in ("head_epochs",):
        check_positive(name, args[name], integer=True)
    for name in ("head_lr", "temperature"):
        check_positive(name, args[name])
    for name in (
        "lambda_kd",
        "lambda_fd",
        "lambda_adc",
        "lambda_stored",
        "lambda_at",
    ):
        check_non_negative(name, args[name])
    for name in ("adapt", "freeze_bn", "freeze_one_class"):
        check_bool(name, args[name])
    fraction = args["image_fraction"]
    if not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ValueError(f"image_fraction must be in [0, 1), got {fraction!r}.")
    kw = args.get("adapter_kwargs")
    if kw is not None and not isinstance(kw, dict):
        raise ValueError(
            f"adapter_kwargs must be a dict of AdapterTrainer arguments, got {kw!r:.60}."
        )
    if kw and "residual" in kw:
        check_bool("adapter_kwargs['residual']", kw["residual"])
    check_training_args(
        train_mb_size=args["train_mb_size"],
        train_epochs=args["train_epochs"],
        eval_mb_size=args["eval_mb_size"],
        plugins=args["plugins"],
    )


def check_device(device) -> torch.device:
    """A usable torch device, or a ValueError that says what to pass.

    The device is probed with a one-element tensor, so a device type that
    this torch build or machine cannot use (``"mps"`` off Apple silicon, a
    CUDA index that does not exist, ``"meta"``) is refused here, not at the
    first ``train()``."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a torch device; pass 'cpu' or 'cuda'."
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine; "
            "pass device='cpu'."
        )
    if dev.type != "cpu":
        try:
            torch.zeros(1, device=dev).cpu()
        except Exception as e:  # NotImplementedError, RuntimeError, Assertion...
            raise ValueError(
                f"device={device!r} cannot be used by this torch build on this "
                f"machine ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                "pass device='cpu', or 'cuda' where CUDA is available."
            ) from None
    return dev

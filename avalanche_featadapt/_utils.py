"""Helpers shared by the plugins: splitting a model, extracting features once,
the frozen teacher, input checks."""

from __future__ import annotations

import copy
import math
from typing import Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from .models import FeatureClassifierModel, LayerInputTap

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int8": torch.int8}


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
            FeatureClassifierModel(LayerInputTap(model, last_layer_name), head)
        )
    if isinstance(model, FeatureClassifierModel):
        return _checked(model)
    fe = getattr(model, "feature_extractor", None)
    head = getattr(model, "classifier", getattr(model, "train_classifier", None))
    if isinstance(fe, nn.Module) and isinstance(head, nn.Module):
        return _checked(FeatureClassifierModel(fe, head))
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


def resolve_dtype(dtype) -> torch.dtype:
    """'float32' | 'float16' | 'int8' (or the torch dtypes) -> torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"Unknown storage dtype {dtype!r}; pass one of {list(_DTYPES)}.")


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
    for name in ("lambda_kd", "lambda_fd", "lambda_at"):
        check_non_negative(name, args[name])
    for name in ("adapt", "freeze_bn"):
        check_bool(name, args[name])
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


#: above this class id, a head of one unit per class id is refused
MAX_CLASS_ID = 100_000


def check_labels(experience):
    """Refuse float labels (they would be truncated to integers) and class
    ids so large that a head of one unit per id would be huge."""
    targets = getattr(experience.dataset, "targets", None)
    if targets is None:
        return
    t = torch.as_tensor(list(targets))
    if t.is_floating_point():
        example = t[t != t.round()][:1].tolist() or t[:1].tolist()
        raise ValueError(
            f"Experience {experience.current_experience} has float labels (e.g. "
            f"{example[0]}); class labels must be integers 0..C-1. Pass the "
            "targets as integers (y.long())."
        )
    if t.numel() and int(t.max()) > MAX_CLASS_ID:
        raise ValueError(
            f"Experience {experience.current_experience} has class id "
            f"{int(t.max())}: the classifier has one unit per class id, so it "
            f"would be {int(t.max()) + 1} units wide. Remap the labels to "
            "0..C-1 (e.g. nc_benchmark(..., class_ids_from_zero_from_first_exp"
            "=True))."
        )
    if t.numel() and int(t.min()) < 0:
        raise ValueError(
            f"Experience {experience.current_experience} has negative class id "
            f"{int(t.min())}; class labels must be integers 0..C-1."
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


def _task_label_message(who: str, what: str) -> str:
    """The first sentence of every refusal of task labels."""
    return f"{who} is for class-incremental streams without task labels, but {what}."


def check_experience(experience, who: str):
    """Refuse an experience with task labels (these methods are
    class-incremental) or with no training data."""
    labels = set(getattr(experience, "task_labels", [0]))
    if labels - {0}:
        raise ValueError(
            _task_label_message(
                who, f"this experience has task labels {sorted(labels)}"
            )
            + " Build the benchmark with task_labels=False (or "
            "return_task_id=False)."
        )
    if len(experience.dataset) == 0:
        raise ValueError(
            f"Experience {experience.current_experience} has no training data; "
            "remove empty experiences from the stream."
        )
    check_labels(experience)
    if not hasattr(experience, "classes_in_this_experience"):
        raise ValueError(
            f"{who} needs to know each experience's classes (its head grows with "
            "them, through Avalanche's IncrementalClassifier), but this stream "
            "has no classes timeline (a stream of benchmark_from_datasets). "
            "Wrap the benchmark with avalanche.benchmarks.with_classes_timeline("
            "benchmark), or build it with class_incremental_benchmark / "
            "nc_benchmark."
        )


def check_single_head(who: str, *modules) -> None:
    """Refuse a multi-head model (an Avalanche ``MultiTaskModule`` such as
    ``MTSimpleMLP``, anywhere in ``modules``): its forward needs task labels,
    which these class-incremental methods never pass. Same message as
    :func:`check_experience` gives for a stream with task labels."""
    from avalanche.models import MultiTaskModule

    for module in modules:
        for sub in module.modules() if isinstance(module, nn.Module) else ():
            if isinstance(sub, MultiTaskModule):
                raise ValueError(
                    _task_label_message(
                        who,
                        f"the model contains {type(sub).__name__}, a multi-head "
                        "(task-label) Avalanche MultiTaskModule",
                    )
                    + " Use a single-head model, e.g. avalanche.models.SimpleMLP "
                    "or avalanche_featadapt.make_digits_model()."
                )


@torch.no_grad()
def extract_features(
    modules,
    dataset,
    *,
    device,
    batch_size: int = 512,
) -> Tuple[list, torch.Tensor]:
    """Run each module of ``modules`` over ``dataset`` once, in eval mode, with
    eval transforms and large batches; return ([features per module], labels).

    Several modules share one pass over the data (e.g. the old and the new
    backbone for feature pairs). Training modes are restored afterwards.
    """
    if hasattr(dataset, "eval"):
        dataset = dataset.eval()
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    outs = [[] for _ in modules]
    labels = []
    try:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
        for batch in loader:
            x, y = batch[0].to(device), batch[1]
            for out, m in zip(outs, modules):
                out.append(m(x).float().cpu())
            labels.append(torch.as_tensor(y).long().cpu())
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)
    if not labels:
        raise ValueError(
            "The experience's dataset is empty: there is nothing to extract "
            "features from. Remove empty experiences from the stream."
        )
    return [torch.cat(o) for o in outs], torch.cat(labels)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy in eval mode with gradients off (a teacher)."""
    teacher = copy.deepcopy(module).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def teacher_of(strategy, module: nn.Module) -> nn.Module:
    """The frozen copy of ``module`` taken before this experience's training.

    Plugins that need the previous model (distillation, the adapter) share one
    copy per experience through the strategy, so the model is copied once.
    Call it from ``before_training_exp``.
    """
    exp = strategy.clock.train_exp_counter
    cache = strategy.__dict__.setdefault("_featadapt_teachers", {})
    if cache.get("exp") != exp:
        cache.clear()
        cache["exp"] = exp
        cache["model"] = frozen_copy(strategy.model)
    if module is strategy.model:
        return cache["model"]
    for name, m in strategy.model.named_modules():
        if m is module:
            return cache["model"].get_submodule(name)
    key = ("extra", id(module))
    if key not in cache:
        cache[key] = frozen_copy(module)
    return cache[key]


_CACHES = ("_featadapt_teachers", "_featadapt_features")


def release_caches(strategy) -> None:
    """Drop the per-experience caches that :func:`teacher_of` and
    :func:`experience_features` keep on the strategy. The plugins that
    create them call it from ``after_training``, so that nothing of theirs
    stays on the strategy (or goes into its checkpoints) between
    experiences, whatever strategy they are attached to."""
    for name in _CACHES:
        strategy.__dict__.pop(name, None)


def feature_extractor_of(strategy, feature_extractor: Optional[nn.Module]):
    """The explicit feature extractor, or ``strategy.model.feature_extractor``."""
    if feature_extractor is not None:
        return feature_extractor
    fe = getattr(strategy.model, "feature_extractor", None)
    if fe is None:
        raise ValueError(
            f"The strategy's model ({type(strategy.model).__name__}) has no "
            "'feature_extractor' attribute. Pass feature_extractor= to the plugin, "
            "or build the model with avalanche_featadapt.split_model()."
        )
    return fe


def experience_features(strategy, modules) -> Tuple[list, torch.Tensor]:
    """:func:`extract_features` on the current experience's training data,
    cached for the experience, so that plugins that need the same features
    (the buffer, the adapter, SDC) extract them once. The cache is keyed on
    the experience and the number of training iterations done, so features
    are recomputed whenever the weights may have changed."""
    key = (strategy.clock.train_exp_counter, strategy.clock.train_iterations)
    cache = strategy.__dict__.get("_featadapt_features")
    if cache is None or cache["key"] != key:
        cache = {"key": key, "feats": {}, "labels": None}
        strategy.__dict__["_featadapt_features"] = cache
    missing = [m for m in modules if id(m) not in cache["feats"]]
    if missing:
        from .distributed import extract_features_sharded  # one pass in all

        feats, labels = extract_features_sharded(
            missing,
            strategy.experience.dataset,
            device=strategy.device,
            batch_size=max(int(strategy.eval_mb_size or 1), 256),
        )
        for m, f in zip(missing, feats):
            cache["feats"][id(m)] = f
        cache["labels"] = labels
    return [cache["feats"][id(m)] for m in modules], cache["labels"]

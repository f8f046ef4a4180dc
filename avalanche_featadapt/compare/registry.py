"""The one registry of the comparison: each strategy and each benchmark is
one record (the benchmarks' in :mod:`.benchmark_records`, re-exported
here). Everything else (the CLI's choices, the defaults, the report's
orderings, the plots' colours, the memory check) reads these records.
``featadapt list`` prints them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from .benchmark_records import BENCHMARKS, BenchmarkSpec, GPURecipe
from .builders import FA, ICARL, JOINT, LWF, NAIVE, REPLAY, SDC, Builder

__all__ = [
    "BENCHMARKS",
    "BenchmarkSpec",
    "DEFAULT_STRATEGIES",
    "DEFAULT_SWEEP_IMAGES",
    "GPURecipe",
    "STRATEGIES",
    "StrategySpec",
]


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of the comparison.

    :param name: its CLI name.
    :param builder: how it is built
        (:class:`~avalanche_featadapt.compare.builders.Builder`: the
        constructor its hyperparameters go to, what its memory holds).
    :param hyperparameters: its own keyword arguments.
    :param source: where they come from.
    :param memory: "none", "fixed" (a memory whose size does not depend on the
        budget, e.g. SDC's prototypes) or "budget" (sized to fit the budget).
    :param color: its colour in every plot.
    :param default: whether ``featadapt compare`` runs it by default.
    :param versus: (other strategy, question) pairs the report answers.
    :param shares_base: whether its first experience is plain cross-entropy
        training of the benchmark's fresh model, the same for every strategy
        that has it, so it starts from the comparison's shared base model
        (:mod:`~avalanche_featadapt.compare.base_model`).
    """

    name: str
    builder: Builder
    hyperparameters: dict
    source: str
    memory: str
    color: str
    default: bool = True
    versus: Tuple[Tuple[str, str], ...] = ()
    shares_base: bool = False

    @property
    def drift(self) -> bool:
        """Whether ``DriftMetric`` can follow its belief about old features
        (its builder says how it is measured)."""
        return bool(self.builder.drift)

    @property
    def keeps_memory(self) -> bool:
        return self.memory != "none"

    @property
    def uses_budget(self) -> bool:
        return self.memory == "budget"


_FA: dict = {}  # FeatureAdaptationStrategy's own defaults, one place
_FA_SRC = (
    "Iscen et al., ECCV 2020: KD + cosine feature distillation (Sec. 3.1), an "
    "MLP adapter with a cosine loss (Sec. 3.2), herding on features, the "
    "classifier retrained on the memory; the strategy's defaults, measured on "
    "several models and datasets (docs/method.md, 'Defaults'; docs/ablations.md)"
)
_SDC = {"sigma": 0.3, "loss": "ce", "regularizer": "distill"}
_SDC_SRC = (
    "Yu et al., SDC, CVPR 2020: sigma = 0.3 on L2-normalised embeddings "
    "(official code yulu0724/SDC-IL); E-LwF+SDC is the paper's best variant"
)
_ICARL_SRC = (
    "Rebuffi et al., CVPR 2017, Sec. 3: a fixed memory of K images split evenly "
    "over classes, herding, nearest mean of exemplars"
)
_REPLAY_SRC = (
    "experience replay of images from a class-balanced buffer (Avalanche's "
    "ReplayPlugin with ClassBalancedBuffer)"
)
_EQ = "at the same bytes"
S = StrategySpec
# fmt: off
_RECORDS = [
    S("naive", NAIVE, {}, "fine-tuning: the lower bound", "none", "tab:gray",
      shares_base=True),
    S("joint", JOINT, {}, "all experiences at once: the upper bound", "none",
      "black"),
    S("lwf", LWF, {"alpha": 1.0, "temperature": 2.0},
      "Li & Hoiem, TPAMI 2017, Sec. 3: lambda_o = 1, T = 2", "none", "tab:orange",
      versus=(("naive", "LwF vs Naive"),), shares_base=True),
    S("icarl", ICARL, {"fixed_memory": True}, _ICARL_SRC, "budget", "tab:green"),
    S("replay", REPLAY, {}, _REPLAY_SRC, "budget", "tab:olive",
      shares_base=True),
    S("sdc", SDC, dict(_SDC), _SDC_SRC, "fixed", "tab:blue",
      versus=(("sdc-nocomp",
               "SDC vs its base E-LwF (same training, stale prototypes)"),)),
    S("sdc-nocomp", SDC, {**_SDC, "compensate": False},
      _SDC_SRC + "; E-LwF: the same without compensation", "fixed", "tab:cyan"),
    S("sdc-ft", SDC, {**_SDC, "regularizer": "none"},
      _SDC_SRC + "; E-FT+SDC: no distillation", "fixed", "tab:purple",
      default=False),
    S("featadapt", FA, dict(_FA), _FA_SRC, "budget", "tab:red",
      versus=(("featadapt-noadapt",
               "Does the adapter help? (FA vs FA without adapter)"),
              ("featadapt-fp32",
               "Does 4-bit storage pay? (FA vs FA storing float32, the paper's)"),
              ("icarl", f"FA vs iCaRL (image exemplars) {_EQ}"),
              ("replay", f"FA vs Replay (image exemplars) {_EQ}"))),
    S("featadapt-fp16", FA, {**_FA, "feature_dtype": "float16"},
      _FA_SRC + "; features stored as float16", "budget", "tab:brown",
      default=False),
    S("featadapt-int8", FA, {**_FA, "feature_dtype": "int8"},
      _FA_SRC + "; features stored as int8, the default before 4-bit codes "
      "(which hold 1.7-1.95 times as many)", "budget", "sienna",
      default=False),
    S("featadapt-nostored", FA, {**_FA, "lambda_stored": 0.0},
      _FA_SRC + "; the stored old-class features only retrain the classifier, "
      "as in the paper (no StoredFeatureReplay)", "budget", "mediumvioletred",
      default=False),
    S("featadapt-fp32", FA, {**_FA, "feature_dtype": "float32"},
      _FA_SRC + "; features stored as float32, the paper's storage (the "
      "default stores 4-bit codes)", "budget", "darkred",
      versus=(("replay", f"FA with float32 features vs Replay {_EQ}"),)),
    S("featadapt-hybrid", FA,
      {**_FA, "image_fraction": 0.5},
      _FA_SRC + "; the paper's 'Ours-hybrid': half the bytes images (replayed, "
      "and giving the adapter pairs), half 4-bit features", "budget", "gold",
      versus=(("replay", f"FA hybrid (images + 4-bit features) vs Replay {_EQ}"),)),
    S("featadapt-noadapt", FA, {**_FA, "adapt": False},
      _FA_SRC + "; ablation: no adapter, the stored features go stale", "budget",
      "tab:pink"),
]
# fmt: on
STRATEGIES: Dict[str, StrategySpec] = {r.name: r for r in _RECORDS}
DEFAULT_STRATEGIES = [r.name for r in _RECORDS if r.default]
#: the default budgets of ``featadapt compare``, in images of the benchmark
#: (run_comparison's default_images): two budgets, the fewest that draw a
#: curve, for the README's main job (11 strategies x 3 seeds on SplitDigits,
#: 51 runs)
DEFAULT_SWEEP_IMAGES = (50, 800)

"""DriftMetric: how far the features of old classes really moved, against
what the strategy believes (adapted features, stale features, compensated
prototypes)."""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue

from ..features import extract_features
from ..plugins import AdapterTrainer, FeatureBuffer, SDCPlugin

__all__ = ["DriftMetric", "drift_errors"]


def drift_errors(believed: torch.Tensor, true: torch.Tensor) -> Dict[str, float]:
    """Mean cosine and mean relative L2 error ``||b - t|| / ||t||`` of rows."""
    cos = F.cosine_similarity(believed, true, dim=1).mean().item()
    rel = ((believed - true).norm(dim=1) / true.norm(dim=1).clamp_min(1e-12)).mean()
    return {"cosine": cos, "rel_l2": rel.item()}


class DriftMetric(PluginMetric[dict]):
    """An Avalanche metric for feature drift (docs/comparison.md, "Drift").

    It keeps a small **probe set**: ``probe_per_class`` images of each class,
    copied from the class's own experience. The probe is for measurement
    only: the metric never feeds it to training, and its copies are not
    counted in the strategy's memory (:class:`~avalanche_featadapt.metrics.
    MemoryBytes`).

    For every probe image the metric tracks what the strategy believes its
    feature to be, applying exactly the strategy's own update after each
    experience, and compares it with the new backbone's true feature:

    - feature adaptation: the feature at learning time, moved through each
      adapter phi_t (:class:`AdapterTrainer`), as the stored features are;
    - feature adaptation without adapter: the stale feature;
    - SDC: per class, the probe's mean embedding moved by the same shift
      SDC applied to that class's prototype, against the true mean.

    The baseline is always the uncompensated (stale) estimate. After each
    experience from the second on it emits, in the train phase:
    ``Drift/estimated_cosine``, ``Drift/estimated_rel_l2``,
    ``Drift/stale_cosine``, ``Drift/stale_rel_l2`` (old classes only);
    :attr:`history` keeps them per experience.

    :param probe_per_class: probe images per class.
    :param seed: which images are drawn.
    """

    def __init__(self, *, probe_per_class: int = 20, seed: int = 0):
        super().__init__()
        if not isinstance(probe_per_class, int) or probe_per_class < 1:
            raise ValueError(
                f"probe_per_class must be an int >= 1, got {probe_per_class!r}."
            )
        self.probe_per_class = probe_per_class
        self.seed = seed
        self.x: Dict[int, torch.Tensor] = {}
        self.believed: Dict[int, torch.Tensor] = {}
        self.stale: Dict[int, torch.Tensor] = {}
        self.history: list = []
        self._protos_before: Optional[dict] = None

    def reset(self):
        pass

    def result(self):
        return self.history[-1] if self.history else {}

    def __str__(self):
        return "Drift"

    @staticmethod
    def _find(strategy, cls):
        return next((p for p in strategy.plugins if isinstance(p, cls)), None)

    def before_training_exp(self, strategy):
        sdc = self._find(strategy, SDCPlugin)
        self._protos_before = (
            {c: p.clone() for c, p in sdc.prototypes.items()} if sdc else None
        )

    def _embed(self, strategy, x):
        fe = strategy.model.feature_extractor
        (z,), _ = extract_features(
            [fe],
            torch.utils.data.TensorDataset(x, torch.zeros(len(x))),
            device=strategy.device,
        )
        sdc = self._find(strategy, SDCPlugin)
        return F.normalize(z, dim=1) if sdc is not None and sdc.normalize else z

    def after_training_exp(self, strategy):
        exp_id = strategy.clock.train_exp_counter
        old = list(self.x)
        out = []
        if old:
            sdc = self._find(strategy, SDCPlugin)
            adapter = self._find(strategy, AdapterTrainer)
            true = {c: self._embed(strategy, self.x[c]) for c in old}
            for c in old:
                if sdc is not None:
                    if sdc.compensate and c in (self._protos_before or {}):
                        shift = sdc.prototypes[c] - self._protos_before[c]
                        self.believed[c] = self.believed[c] + shift.cpu()
                elif (
                    adapter is not None
                    and adapter.history
                    and adapter.history[-1].get("experience") == exp_id
                ):
                    with torch.no_grad():
                        self.believed[c] = adapter.adapters[-1](self.believed[c])
            if sdc is not None:  # prototypes: compare class means
                t = torch.stack([true[c].mean(0) for c in old])
                b = torch.stack([self.believed[c] for c in old])
                s = torch.stack([self.stale[c] for c in old])
            else:
                t = torch.cat([true[c] for c in old])
                b = torch.cat([self.believed[c] for c in old])
                s = torch.cat([self.stale[c] for c in old])
            est, stale = drift_errors(b, t), drift_errors(s, t)
            record = {
                "experience": exp_id,
                "estimated_cosine": est["cosine"],
                "estimated_rel_l2": est["rel_l2"],
                "stale_cosine": stale["cosine"],
                "stale_rel_l2": stale["rel_l2"],
            }
            self.history.append(record)
            step = strategy.clock.train_iterations
            for k, v in record.items():
                if k != "experience":
                    out.append(
                        MetricValue(
                            self, f"Drift/{k}/train_phase/train_stream", v, step
                        )
                    )
        self._add_probe(strategy)
        return out

    def _add_probe(self, strategy):
        ds = strategy.experience.dataset.eval()
        labels = torch.as_tensor(list(ds.targets))
        g = torch.Generator().manual_seed(self.seed)
        sdc = self._find(strategy, SDCPlugin)
        for c in torch.unique(labels).tolist():
            idx = torch.nonzero(labels == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=g)[: self.probe_per_class]]
            x = torch.stack([torch.as_tensor(ds[int(i)][0]) for i in idx])
            z = self._embed(strategy, x)
            self.x[int(c)] = x
            belief = z.mean(0) if sdc is not None else z
            self.believed[int(c)] = belief.clone()
            self.stale[int(c)] = belief.clone()

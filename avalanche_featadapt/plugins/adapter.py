"""The feature adapter phi_t: learns old -> new feature space on feature pairs
of the current data and moves every stored feature through it."""

from __future__ import annotations

from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin
from torch import nn

from ..checkpoint.modules import register_rebuild
from ..features import (
    experience_features,
    extract_features,
    feature_extractor_of,
    same_weights,
    teacher_of,
)
from ..validation.arguments import check_bool, check_non_negative, check_positive
from ..validation.inputs import check_buffer_order, old_classes
from .adc import adversarial_pairs
from .feature_buffer import FeatureBuffer

__all__ = ["FeatureAdapter", "AdapterTrainer"]


class FeatureAdapter(nn.Module):
    """phi: R^D -> R^D, an MLP ``D -> hidden -> D`` with a ReLU (Iscen et al.,
    ECCV 2020, Sec. 3.2: "feature adaptation is learned with a multi-layer
    perceptron"). With ``residual=True`` it is ``v + MLP(v)`` with the last
    layer initialised to zero, so training starts from the identity map
    (the residual form adapted best on SplitDigits: docs/method.md,
    "Beyond the paper")."""

    def __init__(self, dim: int, hidden_dim: int = 512, *, residual: bool = True):
        super().__init__()
        self.residual = residual
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, dim)
        )
        self.low = self.high = None
        if residual:
            nn.init.zeros_(self.mlp[2].weight)
            nn.init.zeros_(self.mlp[2].bias)

    def forward(self, v):
        out = v + self.mlp(v) if self.residual else self.mlp(v)
        if self.low is not None:  # stay within the range the backbone produces
            out = torch.maximum(torch.minimum(out, self.high), self.low)
        return out


def _cat(pairs, more):
    """(v_hat, v, y) with the rows of ``more`` appended."""
    return tuple(torch.cat([a, b]) for a, b in zip(pairs, more))


def _rebuild_adapter(state: dict, attrs: dict) -> FeatureAdapter:
    """An adapter of a checkpoint, shaped by its saved weights."""
    hidden, dim = state["mlp.0.weight"].shape
    return FeatureAdapter(dim, hidden, residual=attrs[""]["residual"])


register_rebuild(FeatureAdapter, _rebuild_adapter)


class AdapterTrainer(SupervisedPlugin, supports_distributed=True):
    """Feature adaptation (Iscen, Zhang, Lazebnik, Schmid, "Memory-Efficient
    Incremental Learning Through Feature Adaptation", ECCV 2020).

    Before each experience the plugin keeps a frozen copy of the backbone
    h_{t-1} (eval mode). After training it computes feature pairs on the
    experience's training images, ``v_hat = h_{t-1}(x)`` and ``v = h_t(x)``,
    trains a fresh :class:`FeatureAdapter` phi_t on them and moves every
    feature of the older classes in ``buffer`` through phi_t (docs/method.md,
    steps 2-4). A held-out part of the pairs measures how well phi_t maps old to
    new features: :attr:`history` records its cosine per experience.

    :param buffer: the :class:`FeatureBuffer` whose old features are adapted.
    :param feature_extractor: the backbone h; default
        ``strategy.model.feature_extractor``.
    :param hidden_dim: phi's hidden width.
    :param residual: phi(v) = v + MLP(v) instead of MLP(v).
    :param epochs: passes over the feature pairs.
    :param lr: Adam learning rate for phi.
    :param batch_size: pairs per step.
    :param lambda_cls: weight of ``CE(g(phi(v_hat)), y)``, the paper's
        classification term, with g the strategy's current classifier. It
        sees only the current classes, so a large weight pulls adapted old
        features toward them (docs/method.md, "Beyond the paper"): 0 by default.
    :param lambda_mse: weight of ``||phi(v_hat) - v||^2 / mean ||v||^2``, which
        also matches norms (the cosine term is scale-free).
    :param input_noise: Gaussian noise added to v_hat in training, as a
        fraction of the features' per-dimension std; it helps phi generalise
        from the current classes to the stored old ones.
    :param extra_pairs: optional ``strategy -> list of datasets`` whose images
        also give feature pairs, e.g. the stored images of a hybrid memory
        (old classes, so phi learns exactly where the stored features are).
    :param clamp: keep phi's output within the per-dimension range of the
        new features seen in training (e.g. non-negative after a ReLU): a
        feature the backbone cannot produce is an adapter error.
    :param adc_steps: gradient steps that push current images toward each
        old class before they give pairs
        (:func:`~avalanche_featadapt.plugins.adc.adversarial_pairs`, after
        ADC, Goswami et al., CVPR 2024: 3 steps); 0 turns it off.
    :param adc_step_size: each step's length, as a fraction of the images'
        mean L2 norm.
    :param adc_per_class: images pushed toward each old class (ADC: 100).
    :param holdout: fraction of pairs held out to measure phi's cosine.
    :param seed: seed of the split, the noise and phi's initialisation.
    """

    def __init__(
        self,
        *,
        buffer: FeatureBuffer,
        feature_extractor: Optional[nn.Module] = None,
        hidden_dim: int = 512,
        residual: bool = True,
        epochs: int = 60,
        lr: float = 1e-3,
        batch_size: int = 64,
        lambda_cls: float = 0.0,
        lambda_mse: float = 1.0,
        input_noise: float = 0.1,
        extra_pairs: Optional[Callable] = None,
        clamp: bool = True,
        adc_steps: int = 3,
        adc_step_size: float = 0.1,
        adc_per_class: int = 100,
        holdout: float = 0.1,
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(buffer, FeatureBuffer):
            raise ValueError("buffer must be a FeatureBuffer (the memory to adapt).")
        check_positive("hidden_dim", hidden_dim, integer=True)
        check_bool("residual", residual)
        check_positive("epochs", epochs, integer=True)
        check_positive("lr", lr)
        check_positive("batch_size", batch_size, integer=True)
        check_non_negative("lambda_cls", lambda_cls)
        check_non_negative("lambda_mse", lambda_mse)
        check_non_negative("input_noise", input_noise)
        if (
            isinstance(adc_steps, bool)
            or not isinstance(adc_steps, int)
            or adc_steps < 0
        ):
            raise ValueError(f"adc_steps must be an int >= 0, got {adc_steps!r}.")
        check_positive("adc_step_size", adc_step_size)
        check_positive("adc_per_class", adc_per_class, integer=True)
        if not isinstance(clamp, bool):
            raise ValueError(f"clamp must be True or False, got {clamp!r}.")
        if not 0 <= holdout < 1:
            raise ValueError(f"holdout must be in [0, 1), got {holdout!r}.")
        self.buffer = buffer
        self.feature_extractor = feature_extractor
        self.hidden_dim = int(hidden_dim)
        self.residual = residual
        self.epochs = int(epochs)
        self.lr = lr
        self.batch_size = int(batch_size)
        self.lambda_cls = lambda_cls
        self.lambda_mse = lambda_mse
        self.input_noise = input_noise
        self.extra_pairs = extra_pairs
        self.clamp = clamp
        self.adc_steps = int(adc_steps)
        self.adc_step_size = adc_step_size
        self.adc_per_class = int(adc_per_class)
        self.holdout = holdout
        self.seed = seed
        self.adapters: List[FeatureAdapter] = []
        self.history: List[dict] = []
        self._teacher = None

    def snapshot(self) -> tuple:
        """What :meth:`after_training_exp` changes, for :meth:`restore`.

        :returns: the teacher and the lengths of :attr:`adapters` and :attr:`history`.
        """
        return self._teacher, len(self.adapters), len(self.history)

    def restore(self, snapshot: tuple) -> None:
        """Put back the teacher of :meth:`snapshot` and drop the adapters and
        history entries added since.

        :param snapshot: what :meth:`snapshot` returned.
        :returns: None; the trainer changes in place.
        """
        self._teacher, n_adapters, n_history = snapshot
        del self.adapters[n_adapters:]
        del self.history[n_history:]

    def before_training_exp(self, strategy, **kwargs):
        check_buffer_order(strategy, self, self.buffer, buffer_after=True)
        fe = feature_extractor_of(strategy, self.feature_extractor)
        self._teacher = teacher_of(strategy, fe) if self.buffer.classes else None

    def after_training_exp(self, strategy, **kwargs):
        fe = feature_extractor_of(strategy, self.feature_extractor)
        if self._teacher is None or same_weights(self._teacher, fe):
            self._teacher = None  # no feature moved: phi_t is the identity
            return
        (v_hat, v), y = experience_features(strategy, [self._teacher, fe])
        for ds in self.extra_pairs(strategy) if self.extra_pairs else []:
            if len(ds) == 0:
                continue
            (ev_hat, ev), ey = extract_features(
                [self._teacher, fe], ds, device=strategy.device
            )
            v_hat, v, y = _cat((v_hat, v, y), (ev_hat, ev, ey))
        old = old_classes(self.buffer, strategy.experience)
        if self.adc_steps > 0 and old:
            protos = {c: self.buffer.features_of(c).mean(0) for c in old}
            a_hat, a, ay = adversarial_pairs(
                self._teacher,
                fe,
                strategy.experience.dataset,
                protos,
                steps=self.adc_steps,
                step_size=self.adc_step_size,
                per_class=self.adc_per_class,
                device=strategy.device,
                strategy=strategy,
            )
            v_hat, v, y = _cat((v_hat, v, y), (a_hat, a, ay))
        head = getattr(strategy.model, "classifier", None)
        phi = self.fit(v_hat, v, y, classifier=head if self.lambda_cls > 0 else None)
        # moved with the new features in one all-or-nothing update
        self.buffer.stage_transform(phi, classes=old)
        self.adapters.append(phi)
        self.history[-1]["experience"] = strategy.clock.train_exp_counter
        self._teacher = None  # the teacher is not needed until the next experience

    def fit(
        self,
        v_hat: torch.Tensor,
        v: torch.Tensor,
        y: Optional[torch.Tensor] = None,
        *,
        classifier: Optional[nn.Module] = None,
    ) -> FeatureAdapter:
        """Train a new phi on pairs (v_hat -> v) and return it (eval mode, on
        the CPU). Appends ``{"holdout_cosine", "train_cosine", "n_pairs"}`` to
        :attr:`history`."""
        v_hat, v = v_hat.detach().float().cpu(), v.detach().float().cpu()
        if v_hat.shape != v.shape or v.dim() != 2:
            raise ValueError(
                f"pairs must be two (n, d) tensors of one shape, got "
                f"{tuple(v_hat.shape)} and {tuple(v.shape)}."
            )
        g = torch.Generator().manual_seed(self.seed)
        n = v.shape[0]
        perm = torch.randperm(n, generator=g)
        n_val = int(round(self.holdout * n)) if n >= 10 else 0
        val, tr = perm[:n_val], perm[n_val:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            phi = FeatureAdapter(v.shape[1], self.hidden_dim, residual=self.residual)
        opt = torch.optim.Adam(phi.parameters(), lr=self.lr)
        noise_std = self.input_noise * v_hat[tr].std(0, keepdim=True)
        v_sq = (v[tr] ** 2).sum(1).mean().clamp_min(1e-12)
        frozen = []
        if classifier is not None:
            device = next(classifier.parameters()).device
            frozen = [p for p in classifier.parameters() if p.requires_grad]
            for p in frozen:
                p.requires_grad_(False)
        try:
            phi.train()
            for _ in range(self.epochs):
                order = tr[torch.randperm(len(tr), generator=g)]
                for start in range(0, len(order), self.batch_size):
                    b = order[start : start + self.batch_size]
                    src = v_hat[b] + noise_std * torch.randn(
                        len(b), v.shape[1], generator=g
                    )
                    out = phi(src)
                    # L_phi = (1 - cos(phi(v_hat), v)) + lambda_cls * CE(g(phi(v_hat)), y)
                    loss = (1 - F.cosine_similarity(out, v[b], dim=1)).mean()
                    if self.lambda_mse > 0:  # norm matching: ||phi - v||^2 / E||v||^2
                        mse = ((out - v[b]) ** 2).sum(1).mean() / v_sq
                        loss = loss + self.lambda_mse * mse
                    if classifier is not None and y is not None:
                        logits = classifier(out.to(device))
                        ce = F.cross_entropy(logits, y[b].to(device))
                        loss = loss + self.lambda_cls * ce.cpu()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        phi.eval()
        if self.clamp:
            phi.low, phi.high = v.min(0).values, v.max(0).values
        for p in phi.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            cos_tr = F.cosine_similarity(phi(v_hat[tr]), v[tr], dim=1).mean().item()
            cos_val = (
                F.cosine_similarity(phi(v_hat[val]), v[val], dim=1).mean().item()
                if n_val
                else float("nan")
            )
            stale = F.cosine_similarity(v_hat, v, dim=1).mean().item()
        self.history.append(
            {
                "holdout_cosine": cos_val,
                "train_cosine": cos_tr,
                "stale_cosine": stale,
                "n_pairs": n,
            }
        )
        return phi

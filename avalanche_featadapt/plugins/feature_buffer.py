"""A class-balanced memory of (feature, label) pairs under a sample or byte
budget, stored as float32, float16, int8 or int4."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
from avalanche.training.plugins import SupervisedPlugin

from ..features import experience_features, feature_extractor_of, release_caches
from ..validation.arguments import check_positive
from ..validation.inputs import check_class_ids, check_finite_batch, experience_classes
from .feature_codec import (
    bytes_per_feature,
    check_encodable,
    decode,
    encode,
    storage_name,
)
from .herding import HerdingSelector

__all__ = ["FeatureBuffer"]


class FeatureBuffer(SupervisedPlugin, supports_distributed=True):
    """Stored features of past classes, the memory of feature adaptation
    (Iscen et al., ECCV 2020, Sec. 3: "we store feature descriptors of
    training images instead of the images").

    After each experience the plugin extracts features of the experience's
    training data with the feature extractor (eval mode, eval transforms),
    selects per class with the selector (iCaRL's herding by default), and
    shrinks older classes so that every class gets an equal share of the
    budget (``M^t = phi_t(M^{t-1}) U select(V^t)``, docs/method.md step 4; the
    ``phi_t`` part is :class:`AdapterTrainer`'s job, through
    :meth:`transform`). A class's rows are kept in selection order, so
    shrinking keeps a prefix, as iCaRL does.

    Memory is the bytes of the stored tensors: ``d * itemsize`` per feature
    for float32 and float16, ``d + 4`` for int8 (symmetric per-vector codes
    and a float32 scale) and ``ceil(d / 2) + 8`` for int4 (two 4-bit codes a
    byte, a float32 offset and step), dequantised on read (docs/comparison.md).
    Labels are implicit in the per-class layout and cost nothing. As a
    plugin it refuses training and evaluation batches with NaN or inf.

    The names are those of :class:`FeatureAdaptationStrategy`'s arguments
    (one name per concept).

    :param mem_size: most features held in total, or None.
    :param memory_bytes: most bytes held in total, or None. At least one
        budget must be given; with both, the tighter one holds.
    :param feature_dtype: storage dtype, "float32", "float16", "int8" or
        "int4" (the attribute holds the name).
    :param selector: a callable ``(features, m) -> indices``; defaults to
        :class:`HerdingSelector`.
    :param feature_extractor: the module whose output is stored; defaults to
        ``strategy.model.feature_extractor``.
    """

    def __init__(
        self,
        *,
        mem_size: Optional[int] = None,
        memory_bytes: Optional[int] = None,
        feature_dtype="float32",
        selector: Optional[Callable] = None,
        feature_extractor: Optional[torch.nn.Module] = None,
    ):
        super().__init__()
        if mem_size is None and memory_bytes is None:
            raise ValueError(
                "FeatureBuffer needs a budget: pass mem_size= (features) or "
                "memory_bytes= (bytes), e.g. memory_bytes=51200."
            )
        check_positive("mem_size", mem_size, allow_none=True, integer=True)
        check_positive("memory_bytes", memory_bytes, allow_none=True, integer=True)
        if selector is not None and not callable(selector):
            raise ValueError("selector must be callable (features, m) -> indices.")
        self.mem_size = None if mem_size is None else int(mem_size)
        self.memory_bytes = None if memory_bytes is None else int(memory_bytes)
        self.feature_dtype = storage_name(feature_dtype)
        self.selector = selector if selector is not None else HerdingSelector()
        self.feature_extractor = feature_extractor
        self.feature_dim: Optional[int] = None
        self._data: Dict[int, torch.Tensor] = {}
        self._scales: Dict[int, torch.Tensor] = {}
        self._staged = None

    # ------------------------------------------------------------ budget
    def bytes_per_sample(self, feature_dim: Optional[int] = None) -> int:
        """Bytes one stored feature costs, with its int8/int4 scales."""
        d = feature_dim if feature_dim is not None else self.feature_dim
        if d is None:
            raise ValueError("The feature dimension is unknown until features arrive.")
        return bytes_per_feature(d, self.feature_dtype)

    def capacity(self, feature_dim: Optional[int] = None) -> int:
        """The most features the budget holds."""
        caps = []
        if self.mem_size is not None:
            caps.append(self.mem_size)
        if self.memory_bytes is not None:
            caps.append(self.memory_bytes // self.bytes_per_sample(feature_dim))
        return min(caps)

    def _quotas(self, classes: List[int], feature_dim: int) -> Dict[int, int]:
        cap = self.capacity(feature_dim)
        q, extra = divmod(cap, len(classes))
        if q == 0:
            raise ValueError(
                f"The budget holds {cap} features of "
                f"{self.bytes_per_sample(feature_dim)} bytes, fewer than the "
                f"{len(classes)} classes seen. Raise memory_bytes/mem_size, or use "
                "a smaller dtype (float16, int8 or int4)."
            )
        # The first `extra` classes (arrival order) get one more. A class's
        # quota never grows as classes arrive, so a kept prefix stays valid.
        return {c: q + (i < extra) for i, c in enumerate(classes)}

    # ------------------------------------------------------------ storage
    @property
    def classes(self) -> List[int]:
        """Classes held, in arrival order."""
        return list(self._data)

    @property
    def nbytes(self) -> int:
        """Bytes held: the stored feature tensors plus int8/int4 scales."""
        return sum(t.nbytes for t in self._data.values()) + sum(
            s.nbytes for s in self._scales.values()
        )

    def __len__(self) -> int:
        return sum(t.shape[0] for t in self._data.values())

    def stored_tensors(self) -> List[torch.Tensor]:
        """What the buffer holds as memory (the contract of
        :class:`~avalanche_featadapt.memory.HoldsMemory`).

        :returns: the features and int8/int4 scales at their storage dtype.
        """
        return list(self._data.values()) + list(self._scales.values())

    def snapshot(self) -> tuple:
        """The contents, for :meth:`restore`; the tensors are shared, not
        copied (the buffer never changes one in place).

        :returns: the tensors per class, the dimension and the staged transform.
        """
        return dict(self._data), dict(self._scales), self.feature_dim, self._staged

    def restore(self, snapshot: tuple) -> None:
        """Put the buffer back as it was when :meth:`snapshot` was taken.

        :param snapshot: what :meth:`snapshot` returned.
        :returns: None; the buffer changes in place.
        """
        data, scales, self.feature_dim, self._staged = snapshot
        self._data, self._scales = dict(data), dict(scales)

    def features_of(self, c: int) -> torch.Tensor:
        """Class ``c``'s features, dequantised to float32."""
        return decode(
            self._data[c], self._scales.get(c), self.feature_dtype, self.feature_dim
        )

    def features(self, classes: Optional[Iterable[int]] = None) -> Tuple:
        """(features float32 (n, d), labels int64 (n,)) of the given classes
        (default all)."""
        classes = self.classes if classes is None else list(classes)
        if not classes:
            d = self.feature_dim or 0
            return torch.empty(0, d), torch.empty(0, dtype=torch.long)
        feats = [self.features_of(c) for c in classes]
        labels = [
            torch.full((f.shape[0],), c, dtype=torch.long)
            for f, c in zip(feats, classes)
        ]
        return torch.cat(feats), torch.cat(labels)

    def _encode(self, x: torch.Tensor):
        x = x.detach().float().cpu()
        check_encodable(x, self.feature_dtype)  # no inf or NaN stored
        return encode(x, self.feature_dtype)

    @staticmethod
    def _check(x: torch.Tensor, what: str, feature_dim: Optional[int]):
        if x.dim() != 2:
            raise ValueError(f"{what} must be 2-D (n, d), got {tuple(x.shape)}.")
        if feature_dim is not None and x.shape[1] != feature_dim:
            raise ValueError(
                f"{what} have dimension {x.shape[1]}, the buffer holds {feature_dim}."
            )
        if not torch.isfinite(x).all():
            raise ValueError(
                f"{what} contain NaN or inf; the buffer was left unchanged. The "
                "backbone has probably diverged: lower the learning rate or check "
                "the inputs."
            )

    @torch.no_grad()
    def update(
        self,
        features: Optional[torch.Tensor] = None,
        labels: Optional[torch.Tensor] = None,
        *,
        transform: Optional[Callable] = None,
        transform_classes: Optional[Iterable[int]] = None,
    ) -> None:
        """The post-experience update, all or nothing: move the stored
        features of ``transform_classes`` (default all) through
        ``transform`` (float32 in, float32 out; the adapter phi_t), select
        and add the new ``features`` of the classes in ``labels``, and shrink
        every class to its share of the budget.

        Everything is computed into new tensors and validated first (the
        budget for all classes, shapes, NaN/inf, labels that are not integer
        class ids, values float16 or int4 would store as inf or NaN); only
        then are they swapped in, at once. If anything is refused, the
        buffer is exactly as it was."""
        data, scales = dict(self._data), dict(self._scales)
        d = self.feature_dim
        new: List[int] = []
        if features is not None:
            features = torch.as_tensor(features)
            check_class_ids(labels, "The labels")  # not truncated, not -1
            labels = torch.as_tensor(labels).long().cpu()
            self._check(features, "Features", d)
            if labels.shape != (features.shape[0],):
                raise ValueError("labels must have one entry per feature row.")
            d = features.shape[1]
            new = [int(c) for c in torch.unique(labels).tolist()]
        classes = self.classes + [c for c in new if c not in self._data]
        quotas = self._quotas(classes, d) if classes else {}  # budget first
        if transform is not None:
            moved = self.classes if transform_classes is None else transform_classes
            for c in moved:
                x = self.features_of(c)
                y = torch.as_tensor(transform(x)).detach().float().cpu()
                if y.shape != x.shape:
                    raise ValueError(
                        f"transform must keep the shape {tuple(x.shape)}, got "
                        f"{tuple(y.shape)}; the buffer was left unchanged."
                    )
                self._check(y, "Transformed features", d)
                data[c], s = self._encode(y)
                if s is not None:
                    scales[c] = s
        if features is not None:
            features = features.detach().float().cpu()
            for c in new:
                pool = features[labels == c]
                if c in data:  # a class seen again: reselect from old + new
                    old = decode(data[c], scales.get(c), self.feature_dtype, d)
                    pool = torch.cat([old, pool])
                idx = torch.as_tensor(self.selector(pool, quotas[c])).long().cpu()
                data[c], s = self._encode(pool[idx])
                if s is not None:
                    scales[c] = s
        for c in classes:
            data[c] = data[c][: quotas[c]]
            if c in scales:
                scales[c] = scales[c][: quotas[c]]
        # commit: one swap, nothing above has touched the buffer
        self.feature_dim = d
        self._data, self._scales = data, scales

    def add(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Select and store features of the classes in ``labels``, then shrink
        every class to its share of the budget (:meth:`update` without a
        transform). Nothing changes if anything is refused."""
        self.update(features, labels)

    def transform(self, fn: Callable, classes: Optional[Iterable[int]] = None) -> None:
        """Replace stored features f by fn(f) (float32 in, float32 out), for
        the given classes (default all). Nothing changes if fn's output is not
        finite or has the wrong shape."""
        self.update(transform=fn, transform_classes=classes)

    def stage_transform(
        self, fn: Callable, classes: Optional[Iterable[int]] = None
    ) -> None:
        """Record ``fn`` to move ``classes``' stored features at this
        experience's update (:meth:`update`, from :meth:`after_training_exp`),
        together with the new features: :class:`AdapterTrainer` stages phi_t
        here, so that a refused update leaves the old features unadapted."""
        self._staged = (fn, None if classes is None else list(classes))

    # ------------------------------------------------------------ plugin
    def before_training_exp(self, strategy, **kwargs):
        self._staged = None
        if self.feature_dim is None:  # the budget check needs the dimension
            return
        classes = experience_classes(strategy.experience)
        self._quotas(
            self.classes + [c for c in classes if c not in self._data], self.feature_dim
        )  # refuse before training, not after

    def before_forward(self, strategy, **kwargs):
        check_finite_batch(strategy.mb_x, strategy.clock.train_exp_counter)

    def before_eval_forward(self, strategy, **kwargs):  # NaN outputs: no score
        exp = strategy.experience.current_experience
        check_finite_batch(strategy.mb_x, exp, training=False)

    def after_training_exp(self, strategy, **kwargs):
        fe = feature_extractor_of(strategy, self.feature_extractor)
        (feats,), labels = experience_features(strategy, [fe])
        staged, self._staged = self._staged, None
        fn, classes = staged if staged is not None else (None, None)
        self.update(feats, labels, transform=fn, transform_classes=classes)

    def after_training(self, strategy, **kwargs):
        release_caches(strategy)  # the shared features and teacher

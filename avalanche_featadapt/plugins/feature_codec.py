"""How :class:`~avalanche_featadapt.plugins.FeatureBuffer` encodes a stored
feature, and what one costs (docs/comparison.md, "How memory is counted").

- ``float32`` / ``float16``: the values, 4 or 2 bytes each;
- ``int8``: symmetric codes in [-127, 127] and one float32 scale per
  feature, ``d + 4`` bytes;
- ``int4``: asymmetric codes in [0, 15], two per byte, and one float32
  offset and one float32 step per feature, ``ceil(d / 2) + 8`` bytes. The
  offset keeps all 16 levels in use for non-negative (post-ReLU) features,
  where a symmetric code would waste half of them.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

__all__ = [
    "STORAGE",
    "storage_name",
    "bytes_per_feature",
    "check_encodable",
    "encode",
    "decode",
]

#: The storage dtypes a buffer accepts, by name.
STORAGE = ("float32", "float16", "int8", "int4")
_TORCH = {torch.float32: "float32", torch.float16: "float16", torch.int8: "int8"}


def storage_name(dtype) -> str:
    """The storage dtype's name; torch's float32, float16 and int8 are
    accepted too."""
    if isinstance(dtype, torch.dtype) and dtype in _TORCH:
        return _TORCH[dtype]
    if isinstance(dtype, str) and dtype in STORAGE:
        return dtype
    raise ValueError(f"Unknown storage dtype {dtype!r}; pass one of {list(STORAGE)}.")


def bytes_per_feature(dim: int, dtype) -> int:
    """Bytes one stored ``dim``-dimensional feature costs, codes and scales."""
    name = storage_name(dtype)
    if name == "int4":
        return (dim + 1) // 2 + 8
    if name == "int8":
        return dim + 4
    return dim * (4 if name == "float32" else 2)


def check_encodable(x: torch.Tensor, dtype) -> None:
    """Refuse float32 rows ``x`` that ``dtype`` would store as inf or NaN:
    values beyond float16's range, or int4 rows whose span (max - min)
    overflows float32, which makes the step inf and the decoded row NaN."""
    name = storage_name(dtype)
    if not x.numel() or name not in ("float16", "int4"):
        return
    if name == "float16":
        top = float(x.abs().max())
        if top > torch.finfo(torch.float16).max:
            raise ValueError(
                f"Features reach {top:.4g}, beyond float16's largest value 65504, "
                "so they would be stored as inf; the buffer was left unchanged. "
                "Use feature_dtype='int8' or 'int4' (scaled per feature) or "
                "'float32', or normalise the features."
            )
        return
    lo, hi = x.amin(dim=1), x.amax(dim=1)
    wide = ~torch.isfinite((hi - lo) / 15.0)
    if wide.any():
        i = int(wide.nonzero()[0, 0])
        raise ValueError(
            f"A feature spans {float(lo[i]):.4g} to {float(hi[i]):.4g}: int4 "
            "stores a row as steps of (max - min) / 15, which overflows float32 "
            "there, so it would be stored as NaN; the buffer was left unchanged. "
            "Use feature_dtype='int8' or 'float32', or normalise the features."
        )


def encode(x: torch.Tensor, dtype) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(stored codes, per-feature scales or None) of the float32 rows ``x``."""
    name = storage_name(dtype)
    if name in ("float32", "float16"):
        return x.to(getattr(torch, name)), None
    if name == "int8":
        scale = x.abs().amax(dim=1) / 127.0
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        return torch.round(x / scale[:, None]).clamp(-127, 127).to(torch.int8), scale
    lo = x.amin(dim=1)
    step = (x.amax(dim=1) - lo) / 15.0
    step = torch.where(step > 0, step, torch.ones_like(step))
    q = torch.round((x - lo[:, None]) / step[:, None]).clamp(0, 15).to(torch.uint8)
    if q.shape[1] % 2:  # an odd dimension: pad one code, dropped on decoding
        q = torch.cat([q, torch.zeros_like(q[:, :1])], 1)
    return q[:, 0::2] | (q[:, 1::2] << 4), torch.stack([lo, step], 1)


def decode(q: torch.Tensor, scale: Optional[torch.Tensor], dtype, dim: int):
    """The float32 rows that :func:`encode` stored as ``(q, scale)``."""
    name = storage_name(dtype)
    if name in ("float32", "float16"):
        return q.float()
    if name == "int8":
        return q.float() * scale[:, None]
    codes = torch.stack([q & 15, q >> 4], 2).flatten(1)[:, :dim].float()
    return codes * scale[:, 1:2] + scale[:, 0:1]

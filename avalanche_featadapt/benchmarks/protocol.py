"""Class-incremental protocols by name: ``b0-N`` and ``bP-N``."""

from __future__ import annotations

import re
from typing import Optional, Tuple

__all__ = ["check_protocol_form", "parse_protocol", "per_exp_classes"]


def check_protocol_form(protocol: str) -> None:
    """Refuse a protocol name that is not ``b0-N`` or ``bP-N`` before the
    number of classes is known (before reading a dataset)."""
    m = re.fullmatch(r"b(\d+)-(\d+)", protocol or "")
    steps = int(m.group(2)) if m else 0
    parse_protocol(protocol, steps if m and int(m.group(1)) == 0 else 100 * steps)


def parse_protocol(protocol: str, n_classes: int) -> Tuple[int, Optional[int]]:
    """'b0-N': N equal experiences; 'bP-N': P % of the classes first, then N
    equal experiences. Returns (n_experiences, first_exp_classes or None).
    Every benchmark builder checks its protocol here, before any I/O."""
    m = re.fullmatch(r"b(\d+)-(\d+)", protocol or "")
    if not m:
        raise ValueError(
            f"Unknown protocol {protocol!r}; use bP-N, e.g. b0-5 (5 equal steps) or "
            "b50-5 (half the classes first, then 5 steps)."
        )
    pct, steps = int(m.group(1)), int(m.group(2))
    if steps < 1 or pct >= 100:
        raise ValueError(f"Protocol {protocol!r}: need N >= 1 steps and P < 100.")
    if pct == 0:
        if n_classes % steps:
            raise ValueError(
                f"Protocol {protocol}: {n_classes} classes do not split into {steps} "
                f"equal experiences; choose N dividing {n_classes}."
            )
        return steps, None
    first = n_classes * pct // 100
    rest = n_classes - first
    if first < 1 or rest < steps or rest % steps:
        raise ValueError(
            f"Protocol {protocol}: {first} classes first leaves {rest}, which do not "
            f"split into {steps} equal steps."
        )
    return steps + 1, first


def per_exp_classes(n_experiences: int, first_exp_classes: Optional[int], n_classes):
    """Check an (n_experiences, first_exp_classes) split of ``n_classes``
    with :func:`parse_protocol`'s rules; returns ``nc_benchmark``'s
    ``per_exp_classes`` argument (None for equal experiences)."""
    if first_exp_classes is None:
        parse_protocol(f"b0-{n_experiences}", n_classes)
        return None
    rest = n_classes - first_exp_classes
    if not 0 < first_exp_classes < n_classes or n_experiences < 2:
        raise ValueError(
            f"first_exp_classes must be between 1 and {n_classes - 1} and "
            f"n_experiences >= 2, got first_exp_classes={first_exp_classes}, "
            f"n_experiences={n_experiences}."
        )
    if rest % (n_experiences - 1):
        raise ValueError(
            f"{rest} classes after the first experience do not divide into "
            f"{n_experiences - 1} equal experiences; change n_experiences."
        )
    return {0: first_exp_classes}

"""The checkpoint file: one record whose every field, the payload included,
is covered by one SHA-256, read with ``torch.load(weights_only=True)``
(docs/usage.md, "Checkpoints").

The record's ``format`` field is pickled as a call to :func:`_format_tag`,
the one function that :func:`read_record` allows besides torch's own
tensor rebuilders. Read by :func:`read_record`, it is the format's name;
read by a full unpickler (Avalanche's ``maybe_load_checkpoint``,
``torch.load(weights_only=False)``), it raises :class:`CheckpointError`,
which says to use ``load_checkpoint``, before anything else is built.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path

import torch

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "FORMAT",
    "VERSION",
    "encode_record",
    "read_record",
]

FORMAT = "avalanche-featadapt-checkpoint"
VERSION = 2
#: The fields covered by the checksum besides the payload.
HEADER = ("format", "version", "strategy", "config", "config_hash", "next_experience")
_KEYS = frozenset(HEADER + ("payload", "sha256"))
_reading = threading.local()


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or used; nothing was changed."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint was saved by another strategy or configuration."""


def _format_tag():
    """The format's name inside :func:`read_record`; anywhere else, the
    error that says how to load the file."""
    if getattr(_reading, "active", False):
        return FORMAT
    raise CheckpointError(
        "This file is an avalanche-featadapt checkpoint: load it with "
        "avalanche_featadapt.load_checkpoint(strategy, path). Other readers "
        "(Avalanche's maybe_load_checkpoint, torch.load) are refused: a full "
        "unpickler runs any code a file names. Nothing was loaded."
    )


class _FormatTag:
    def __reduce__(self):
        return (_format_tag, ())


def _legacy_format_tag():
    return _format_tag()


# Files that earlier releases wrote name the tag by its old path,
# avalanche_featadapt._record._format_tag: this copy answers to that name.
_legacy_format_tag.__module__ = "avalanche_featadapt._record"
_legacy_format_tag.__name__ = _legacy_format_tag.__qualname__ = "_format_tag"
_TAGS = [_format_tag, _legacy_format_tag]
torch.serialization.add_safe_globals(_TAGS)


def _digest(header: dict, payload: bytes) -> str:
    text = json.dumps({k: header[k] for k in HEADER}, sort_keys=True)
    return hashlib.sha256(text.encode() + b"\n" + payload).hexdigest()


def encode_record(header: dict, state) -> bytes:
    """The file's bytes: ``header`` (the fields of :data:`HEADER` but the
    format and the version), ``state`` and their SHA-256."""
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    full = dict(header, format=FORMAT, version=VERSION)
    record = {"format": _FormatTag()}  # first: a full unpickler stops here
    record.update({k: full[k] for k in HEADER if k != "format"})
    record["sha256"] = _digest(full, payload)
    record["payload"] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    out = io.BytesIO()
    torch.save(record, out)
    return out.getvalue()


def _damaged(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"{path} is damaged: {why}.")


def read_record(path: Path, map_location) -> dict:
    """The verified header of one file, with its ``state``; a damaged file
    raises :class:`CheckpointError`, a file of another format version
    :class:`CheckpointMismatchError`."""
    torch.serialization.add_safe_globals(_TAGS)  # in case they were reset
    _reading.active = True
    try:
        rec = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # a damaged file, or one that is not ours
        raise CheckpointError(
            f"{path} is not a readable avalanche-featadapt checkpoint "
            f"({type(e).__name__}: {str(e)[:200]}). Files that only a pickle "
            "reader can load (Avalanche's own checkpoints) are refused: "
            "unpickling runs code."
        ) from None
    finally:
        _reading.active = False
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an avalanche-featadapt checkpoint.")
    if set(rec) != _KEYS:
        version = rec.get("version")
        if "sha256" not in rec and isinstance(version, int) and version != VERSION:
            raise CheckpointMismatchError(
                f"{path} has checkpoint format version {version}; this version "
                f"of avalanche-featadapt reads version {VERSION}. Re-run from "
                "the start, or resume with the version that wrote it."
            )
        raise _damaged(path, f"its fields are {sorted(map(str, rec))}")
    payload = rec["payload"]
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8:
        raise _damaged(path, "its payload is not a byte tensor")
    payload = payload.numpy().tobytes()
    try:
        ok = _digest(rec, payload) == rec["sha256"]
    except (TypeError, ValueError):  # a field that is no JSON value
        ok = False
    if not ok:
        raise _damaged(path, "its record or payload does not match its SHA-256")
    if rec["version"] != VERSION:
        raise CheckpointMismatchError(
            f"{path} has checkpoint format version {rec['version']}; this "
            f"version of avalanche-featadapt reads version {VERSION}."
        )
    try:
        rec["config"] = json.loads(rec["config"])
        rec["state"] = torch.load(
            io.BytesIO(payload), weights_only=True, map_location=map_location
        )
    except Exception as e:  # its checksum holds: the file was made so
        raise CheckpointError(f"{path} holds no valid state ({e}).") from None
    nxt = rec["next_experience"]
    if type(nxt) is not int or nxt < 0:
        raise CheckpointError(f"{path} names next experience {nxt!r}.")
    del rec["payload"]
    return rec

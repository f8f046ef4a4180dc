"""Checkpoints that can be trusted: loading runs no code, a crash never
loses the last good file, and a checkpoint of another strategy or
configuration is refused (docs/usage.md, "Checkpoints").

Why not Avalanche's ``save_checkpoint`` / ``maybe_load_checkpoint``: they
pickle the whole strategy with dill, and unpickling a file runs whatever code
it names (a crafted ``__reduce__`` does). Here the file holds only tensors
and plain containers, read with ``torch.load(weights_only=True)``, and the
state goes back into the objects of the strategy the user built:

- the model and the optimizer as state_dicts (a head that grew is resized
  to the saved width first);
- each plugin's attributes (the feature buffer, the adapters, distillation's
  seen classes, the clock...), in the strategy's plugin order;
- the random state of torch, numpy and Python.

The evaluator is not saved (its loggers write their own files). A strategy
that holds datasets in a plugin (Avalanche's ``ReplayPlugin``, the hybrid
memory) cannot be saved this way and is refused at save time; use
Avalanche's own pickled checkpoints for it, with files you trust only.

The file carries a format version, the strategy class, the configuration
(optimizer class, plugins and hyperparameters) with its hash, and one
SHA-256 over all of it and the payload (:mod:`.record`). Before anything
is restored, the whole state is checked against the strategy
(:mod:`.restore`): another model shape, head type or optimizer class is
refused, naming both sides. Saving writes a unique temporary file, fsyncs
it, keeps the current file as ``<name>.prev`` (a hard link, or a copy), then
moves the new one into place with one atomic ``os.replace``; writers in one
folder take turns, and the temporary files of interrupted saves are
removed by the next save (:mod:`.atomic`).

The modules, by job: :mod:`.save_load` (the two functions),
:mod:`.state` (objects as tensors and plain containers), :mod:`.restore`
and :mod:`.modules` (back into the user's objects), :mod:`.fingerprint`
(the configuration that must match), :mod:`.rng` (the random state),
:mod:`.record` (the file and its checksum), :mod:`.atomic` (writes that
never lose the last good file). Nothing here imports the rest of the
package: the modules that a load may rebuild are registered by the
modules that define them (:func:`.modules.register_rebuild`).
"""

from .record import CheckpointError, CheckpointMismatchError
from .save_load import load_checkpoint, save_checkpoint

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
]

"""Distributed training (``torchrun``) of this package's strategies, on
Avalanche's own ``avalanche.distributed.DistributedHelper``.

What Avalanche 0.6 does under ``torchrun``, and what it does not
(docs/usage.md, "Distributed training"):

- ``DistributedHelper.init_distributed`` starts the process group (gloo on
  CPU, nccl on GPU) and seeds every rank alike; ``make_device`` gives each
  rank its device; loggers may only be created on rank 0;
- the templates' training *and* evaluation data loaders shard each
  experience over the ranks (``DistributedSampler``);
- nothing synchronises the model: no template wraps it in
  ``DistributedDataParallel`` and no gradient is averaged, so each rank
  trains its own copy on its own shard, and each rank's metrics cover only
  its shard of the test set.

:class:`DistributedSync` adds the missing parts as one plugin, which
:class:`~avalanche_featadapt.FeatureAdaptationStrategy` and
:class:`~avalanche_featadapt.SDCStrategy` attach by themselves when the
process group is up:

- gradients are averaged over the ranks after every backward pass, and the
  model is broadcast from rank 0 before training: what DDP does. DDP itself
  (``DistributedHelper.wrap_model``) is not used because the plugins reach
  ``strategy.model.feature_extractor`` and ``.classifier`` directly and run
  forward passes DDP does not see (distillation, teachers, feature
  extraction), and a DDP-wrapped model hides those attributes;
- BatchNorm running statistics are averaged over the ranks after every
  epoch;
- the training data are reshuffled before every epoch, with the run's
  seed (:func:`reshuffle`; Avalanche 0.6's distributed loader never does);
- every rank evaluates the whole test set, so the metrics (logged by
  rank 0 only) are those of the whole set;
- after each experience the model, the feature memory and SDC's prototypes
  are broadcast from rank 0, so every rank holds the identical state even
  where floating-point results differ between devices.

:func:`~avalanche_featadapt.features.extract_features_sharded` splits a
feature extraction over the ranks and gathers it in the original order;
the plugins' shared feature cache uses it, so the buffer, the adapter's
pairs and SDC's drift are computed once, not once per rank.
:func:`save_checkpoint_main` writes checkpoints on rank 0 only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import SupervisedPlugin

__all__ = [
    "DistributedSync",
    "init_distributed",
    "reshuffle",
    "save_checkpoint_main",
]


def init_distributed(*, random_seed: int, use_cuda: bool = True) -> torch.device:
    """``DistributedHelper.init_distributed``, and this process's device.

    Avalanche 0.6 gives the process of global rank r the GPU ``cuda:r``
    (``make_device``), which does not exist on the second node and beyond
    of a multi-node run, and ``init_distributed`` already selects it. Here
    the helper's ``make_device`` is replaced, before the process group
    starts, by one that returns ``cuda:LOCAL_RANK`` (set by torchrun), so
    Avalanche's own communications use that device too. On one node the two
    agree; on the CPU (gloo) both are ``cpu``. Without torchrun this starts
    no process group, as Avalanche's own does not.

    :param random_seed: seed of every rank (Avalanche's ``RNGManager``).
    :param use_cuda: one GPU per process and nccl, where CUDA is available.
    """
    helper = DistributedHelper
    local_rank = int(os.environ.get("LOCAL_RANK", 0))

    def make_device(set_cuda_device: bool = False) -> torch.device:
        if not helper.use_cuda:
            return torch.device("cpu")
        dev = torch.device(f"cuda:{local_rank}")
        if set_cuda_device:
            torch.cuda.set_device(dev)
        return dev

    helper.make_device = make_device  # an instance attribute: Avalanche's calls
    helper.init_distributed(random_seed=random_seed, use_cuda=use_cuda)
    return helper.make_device()


def save_checkpoint_main(strategy, fname) -> Path:
    """:func:`avalanche_featadapt.checkpoint.save_checkpoint` on rank 0 only;
    every rank waits (``DistributedHelper.barrier``) until the file is
    complete, so a later ``load_checkpoint`` on every rank reads a whole file.
    Call it on every rank, between experiences. In one process it is
    ``save_checkpoint`` itself."""
    from .checkpoint import save_checkpoint

    path = Path(fname)
    if DistributedHelper.is_main_process:
        path = save_checkpoint(strategy, fname)
    DistributedHelper.barrier()
    return path


def _broadcast_(tensors: List[torch.Tensor]) -> None:
    """Overwrite each tensor, in place, with rank 0's."""
    for t in tensors:
        t.data.copy_(DistributedHelper.broadcast(t.data.clone()))


class DistributedSync(SupervisedPlugin, supports_distributed=True):
    """Keep every rank's model and memory identical under ``torchrun``
    (module docstring: what Avalanche 0.6 leaves out). A no-op in a
    single process.

    Attach it last among the memory plugins: its ``after_training_exp``
    broadcasts rank 0's model, feature memory and prototypes, so it must
    run after they have been updated and before the evaluator.
    """

    def __init__(self):
        super().__init__()
        #: per experience, the largest difference between this rank's weights
        #: and rank 0's just before they are broadcast (0 on rank 0)
        self.divergence: List[float] = []
        self._seed = 0  # the samplers' seed: rank 0's, set in before_training

    def _on(self) -> bool:
        return DistributedHelper.is_distributed and DistributedHelper.world_size > 1

    def before_training_exp(self, strategy, **kwargs):
        # every rank starts from rank 0's weights, as with DDP; this runs
        # after Avalanche grew the head for the experience's new classes
        if self._on():
            _broadcast_(_model_state(strategy.model))

    def before_training(self, strategy, **kwargs):
        # the samplers are Avalanche's whenever a process group is up, even
        # of one process (torchrun --nproc_per_node=1)
        if DistributedHelper.is_distributed:  # rank 0's seed: ranks must agree
            seed = torch.tensor([torch.initial_seed() % 2**62])
            self._seed = int(DistributedHelper.broadcast(seed)[0])

    def before_training_epoch(self, strategy, **kwargs):
        if DistributedHelper.is_distributed:
            # the iteration count is unique to each epoch and kept by checkpoints
            epoch = strategy.clock.train_iterations
            reshuffle(strategy.dataloader, epoch, self._seed)

    def after_backward(self, strategy, **kwargs):
        if not self._on():
            return
        grads = [p.grad for p in strategy.model.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        flat = _all_reduce_mean(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def after_training_epoch(self, strategy, **kwargs):
        if not self._on():
            return
        for name, b in strategy.model.named_buffers():
            if b.is_floating_point() and ("running_" in name):
                b.copy_(_all_reduce_mean(b.detach().clone()))

    def after_training_exp(self, strategy, **kwargs):
        if not self._on():
            return
        params = list(strategy.model.parameters())
        before = [p.detach().clone() for p in params]
        state = _model_state(strategy.model)
        for p in strategy.plugins:
            state += _memory_tensors(p)
        _broadcast_(state)
        # how far this rank's weights were from rank 0's before the broadcast:
        # 0 when the gradient averaging kept the ranks in step
        self.divergence.append(
            max(((b - p.detach()).abs().max().item() for b, p in zip(before, params)))
            if params
            else 0.0
        )

    def before_eval_exp(self, strategy, **kwargs):
        """Replace Avalanche's sharded evaluation loader by one over the
        whole experience, so that every rank's metrics are the whole test
        set's."""
        if not self._on() or not getattr(
            strategy.dataloader, "distributed_sampling", 0
        ):
            return
        from avalanche.benchmarks.utils.data_loader import (
            SingleDatasetDataLoader,
            collate_from_data_or_kwargs,
        )

        args = {}
        collate_from_data_or_kwargs(strategy.adapted_dataset, args)
        strategy.dataloader = SingleDatasetDataLoader(
            strategy.adapted_dataset,
            batch_size=strategy.eval_mb_size,
            distributed_sampling=False,
            **args,
        )


def reshuffle(loader, epoch: int, seed: int) -> bool:
    """Make the ``DistributedSampler`` of ``loader`` draw the permutation of
    ``seed`` and ``epoch`` (torch's recipe: ``set_epoch`` before each epoch).

    Avalanche 0.6's loaders build new samplers, at seed 0 and epoch 0, every
    time they are iterated (``_create_samplers``) and never call
    ``set_epoch``: every epoch of every experience visited the batches in
    one order, whatever the run's seed. For those loaders the sampler
    factory of this loader object (not of its class) is wrapped; for a
    plain ``DataLoader`` its sampler is set. Returns whether ``loader`` had
    anything to set."""
    from torch.utils.data import BatchSampler, DistributedSampler

    def set_(sampler) -> bool:
        if isinstance(sampler, BatchSampler):
            sampler = sampler.sampler
        if isinstance(sampler, DistributedSampler):
            sampler.seed = seed
            sampler.set_epoch(epoch)
            return True
        return False

    create = getattr(type(loader), "_create_samplers", None)
    if create is not None:  # Avalanche's MultiDatasetDataLoader and subclasses

        def create_reshuffled(*args, **kwargs):
            samplers = create(*args, **kwargs)
            for s in samplers:
                set_(s)
            return samplers

        loader._create_samplers = create_reshuffled
        return True
    return set_(getattr(loader, "batch_sampler", None)) or set_(
        getattr(loader, "sampler", None)
    )


def _all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over the ranks (``t`` is on the model's device, which
    is the backend's: CPU for gloo, the rank's GPU for nccl)."""
    torch.distributed.all_reduce(t)
    return t / DistributedHelper.world_size


def _model_state(model) -> List[torch.Tensor]:
    return list(model.parameters()) + list(model.buffers())


def _memory_tensors(plugin) -> List[torch.Tensor]:
    """The tensors of a plugin that must be equal on every rank: what it
    holds as memory (:class:`~avalanche_featadapt.memory.HoldsMemory`), and
    the adapter's last phi."""
    from .memory import HoldsMemory
    from .plugins import AdapterTrainer

    out = list(plugin.stored_tensors()) if isinstance(plugin, HoldsMemory) else []
    if isinstance(plugin, AdapterTrainer) and plugin.adapters:
        out += list(plugin.adapters[-1].parameters())
    return out

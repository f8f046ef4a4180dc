"""Helper for test_save_load.py: train FA on SplitDigits in this process,
optionally stopping after experience K (saving a checkpoint) or resuming from
one, then print the final accuracy and save the buffer."""

import sys
import warnings

import torch

warnings.filterwarnings("ignore")
from avalanche.evaluation.metrics import accuracy_metrics  # noqa: E402
from avalanche.training.plugins import EvaluationPlugin  # noqa: E402

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    SplitDigits,
    make_digits_model,
)  # noqa: E402
from avalanche_featadapt.checkpoint import (
    load_checkpoint,
    save_checkpoint,
)  # noqa: E402

mode, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
stop_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
torch.manual_seed(0)
bm = SplitDigits(5, seed=0)
model = make_digits_model()
strategy = FeatureAdaptationStrategy(
    model=model,
    optimizer=torch.optim.Adam(model.parameters(), lr=3e-4),
    memory_bytes=51200,
    train_epochs=2,
    adapter_kwargs={"epochs": 10},
    head_epochs=5,
    evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[]),
)
start = 0
if mode == "resume":
    strategy, start = load_checkpoint(strategy, ckpt)
for exp in bm.train_stream[start:]:
    strategy.train(exp)
    if mode == "stop" and exp.current_experience == stop_after:
        save_checkpoint(strategy, ckpt)
        sys.exit(0)
res = strategy.eval(bm.test_stream)
acc = res["Top1_Acc_Stream/eval_phase/test_stream/Task000"]
torch.save({"acc": acc, "buffer": strategy.buffer.features()}, out)
print(f"final accuracy {acc:.6f}")

"""Feature adaptation in a plain Avalanche loop on the embedded SplitDigits.

python examples/quickstart.py        # about 30 s on one CPU core
OMP_NUM_THREADS=1 python examples/quickstart.py  # a busy machine: one thread
FEATADAPT_FAST=1 python examples/quickstart.py   # 2 epochs instead of 20 (CI)
"""

import os

import torch
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
from avalanche.logging import CSVLogger, InteractiveLogger
from avalanche.training.plugins import EvaluationPlugin

from avalanche_featadapt import (
    FeatureAdaptationStrategy,
    SplitDigits,
    make_digits_model,
)

torch.manual_seed(0)
bm = SplitDigits(n_experiences=5, seed=0)
model = make_digits_model()  # small CNN, 64-d features, growing cosine head

evaluator = EvaluationPlugin(
    accuracy_metrics(experience=True, stream=True),
    forgetting_metrics(experience=True, stream=True),
    loggers=[InteractiveLogger(), CSVLogger("logs/quickstart")],
)
strategy = FeatureAdaptationStrategy(
    model=model,
    optimizer=torch.optim.Adam(model.parameters(), lr=1e-4),
    memory_bytes=51_200,  # 1,280 4-bit 64-d features of 40 B (800 digits at 8 bits)
    train_mb_size=32,
    train_epochs=2 if os.environ.get("FEATADAPT_FAST") == "1" else 20,
    eval_mb_size=256,
    evaluator=evaluator,
)

for exp in bm.train_stream:
    strategy.train(exp)
    strategy.eval(bm.test_stream)
    print(
        f"after experience {exp.current_experience}: buffer holds "
        f"{len(strategy.buffer)} features, {strategy.buffer.nbytes} bytes"
    )

"""FeatureBuffer and AdapterTrainer attached to Avalanche's own Naive.

Naive keeps fine-tuning; the two plugins keep stored features of past classes
in step with the changing backbone. The printout shows the adapter's held-out
cosine and the buffer's bytes after each experience.

    python examples/plugins_a_la_carte.py
"""

import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.logging import TextLogger
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin

from avalanche_featadapt import (
    AdapterTrainer,
    FeatureBuffer,
    SplitDigits,
    make_digits_model,
)

torch.manual_seed(0)
benchmark = SplitDigits(n_experiences=5)
model = make_digits_model()

buffer = FeatureBuffer(
    memory_bytes=25_600, feature_dtype="float16"
)  # 200 features of 64 halves
adapter = AdapterTrainer(buffer=buffer, epochs=30)

strategy = Naive(
    model=model,
    optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
    train_mb_size=32,
    train_epochs=3,
    eval_mb_size=256,
    plugins=[adapter, buffer],  # the adapter first: it moves old features
    evaluator=EvaluationPlugin(accuracy_metrics(stream=True), loggers=[TextLogger()]),
)
for exp in benchmark.train_stream:
    strategy.train(exp)
    cos = adapter.history[-1]["holdout_cosine"] if adapter.history else float("nan")
    print(
        f"experience {exp.current_experience}: buffer {len(buffer)} features, "
        f"{buffer.nbytes} bytes, classes {buffer.classes}, adapter cosine {cos:.3f}"
    )

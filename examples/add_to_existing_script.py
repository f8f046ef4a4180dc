"""A typical Avalanche script, with feature adaptation swapped in.

The only changes from a plain Avalanche script are the import marked (1) and
the strategy line marked (2); everything else is standard Avalanche.

    python examples/add_to_existing_script.py
"""

import torch
from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
from avalanche.logging import InteractiveLogger
from avalanche.models import IncrementalClassifier
from avalanche.training.plugins import EvaluationPlugin
from torch import nn

from avalanche_featadapt import FeatureAdaptationStrategy, SplitDigits  # (1)

torch.manual_seed(0)
benchmark = SplitDigits(n_experiences=5)


class Net(nn.Module):
    """An ordinary model whose last layer is `fc`."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.BatchNorm1d(64),
        )
        self.fc = IncrementalClassifier(64, 2)

    def forward(self, x):
        return self.fc(self.body(x))


model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
evaluator = EvaluationPlugin(
    accuracy_metrics(experience=True, stream=True),
    forgetting_metrics(experience=True, stream=True),
    loggers=[InteractiveLogger()],
)

# was: strategy = Naive(model=model, optimizer=optimizer, ...)
strategy = FeatureAdaptationStrategy(  # (2)
    model=model,
    last_layer_name="fc",
    optimizer=optimizer,
    memory_bytes=51_200,
    train_mb_size=32,
    train_epochs=5,
    eval_mb_size=256,
    evaluator=evaluator,
)

for exp in benchmark.train_stream:
    strategy.train(exp)
    strategy.eval(benchmark.test_stream)

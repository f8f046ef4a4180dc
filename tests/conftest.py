import warnings

import os

import pytest
import torch
from hypothesis import settings

# CI explores the same examples every run (a failure there is reproducible);
# locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

warnings.filterwarnings("ignore")


@pytest.fixture(scope="session")
def digits():
    from avalanche_featadapt import SplitDigits

    return SplitDigits(5, seed=0)


def make_evaluator(tmp_path=None):
    """An EvaluationPlugin with accuracy and forgetting and real loggers."""
    from avalanche.evaluation.metrics import accuracy_metrics, forgetting_metrics
    from avalanche.logging import CSVLogger, TextLogger
    from avalanche.training.plugins import EvaluationPlugin
    import io

    loggers = [TextLogger(io.StringIO())]
    if tmp_path is not None:
        loggers.append(CSVLogger(str(tmp_path / "csv")))
    return EvaluationPlugin(
        accuracy_metrics(experience=True, stream=True),
        forgetting_metrics(experience=True, stream=True),
        loggers=loggers,
    )


def stream_accuracy(results: dict) -> float:
    return [v for k, v in results.items() if k.startswith("Top1_Acc_Stream")][0]


@pytest.fixture
def evaluator(tmp_path):
    return make_evaluator(tmp_path)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)

"""The shared training loop of the task benchmarks (bench/training.py) reports its progress: a line
with epoch, step, elapsed time and training loss at least every ``progress_every`` seconds, and one
with the test error at each evaluation."""

import re
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
training = pytest.importorskip("training")


def _tiny_task():
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    y = x.sum(1, keepdim=True)
    model = torch.nn.Linear(3, 1)

    def loss_fn(model, xb, yb):
        return (model(xb) - yb).square().mean()

    def test_error(model):
        return (model(x) - y).square().mean()

    return model, loss_fn, test_error, x, y


def test_progress_lines_name_epoch_step_time_and_loss(capsys):
    model, loss_fn, test_error, x, y = _tiny_task()
    run = training.train("tiny", model, loss_fn, test_error, x, y, epochs=3, batch=20, evaluations=3, progress_every=0)
    lines = capsys.readouterr().out.splitlines()
    progress = [line for line in lines if "step" in line]
    evaluations = [line for line in lines if "test" in line]
    assert len(progress) == 3 * 2  # every step, with progress_every=0
    assert re.search(r"tiny +epoch +1/3  step 1/2  loss [\d.e+-]+  \(\d+ s elapsed\)", progress[0])
    assert len(evaluations) == 3 and "epoch    3/3" in evaluations[-1] and "loss" in evaluations[-1]
    assert len(run.history) == 3


def test_quiet_runs_print_nothing(capsys):
    model, loss_fn, test_error, x, y = _tiny_task()
    training.train("tiny", model, loss_fn, test_error, x, y, epochs=2, batch=20, verbose=False, progress_every=0)
    assert capsys.readouterr().out == ""

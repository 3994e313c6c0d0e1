"""One precision policy for training and evaluation (vaekit.device)."""

import pytest
import torch

from vaekit import device
from vaekit.errors import VaekitError

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("fast", "where", "training", "sequence", "expected"),
    [
        (True, CPU, False, False, "bf16"),  # evaluation on a CPU with bf16 matrix units
        (True, CPU, True, True, "bf16"),  # training the sequence model there
        (True, CPU, True, False, "fp32"),  # training image and table networks there
        (False, CPU, False, False, "fp32"),  # no bf16 units: fp32 for everything
        (False, CPU, True, True, "fp32"),
        (False, CUDA, True, False, "bf16"),  # CUDA: bf16 for everything
        (False, CUDA, False, True, "bf16"),
    ],
)
def test_auto_precision(monkeypatch, fast, where, training, sequence, expected):
    monkeypatch.setattr(device, "bf16_matmul_is_fast", lambda: fast)
    assert device.resolve_precision("auto", where, training=training, sequence=sequence) == expected


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_an_explicit_precision_is_taken_as_given(monkeypatch, asked):
    monkeypatch.setattr(device, "bf16_matmul_is_fast", lambda: asked == "fp32")
    for where in (CPU, CUDA):
        assert device.resolve_precision(asked, where, training=True) == asked


def test_unknown_precision_and_device_are_one_line():
    with pytest.raises(VaekitError, match="unknown precision 'fp16'"):
        device.resolve_precision("fp16", CPU)
    with pytest.raises(VaekitError, match="unknown device 'tpu'"):
        device.resolve_device("tpu")

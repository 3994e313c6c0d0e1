"""Where and in what precision the networks run: one policy for training and evaluation.

``precision="auto"`` means bf16 where bf16 is measured to be faster and accurate enough, else fp32:
- on CUDA: bf16 (autocast) for training and evaluation;
- on a CPU with native bf16 matrix units (AVX512-BF16 or AMX; ``bf16_matmul_is_fast``): bf16 for evaluation
  (importance sampling decodes with a bf16 copy of the decoder) and for training the sequence model (its GRU steps
  are matmul-bound: 567-699 molecules/s against 353-356 in fp32 on 20k MOSES molecules); the image and table
  networks train in fp32 there unless bf16 is asked for (one throughput benchmark run measured 1.23x for bf16);
- on any other CPU: fp32.
``"fp32"`` and ``"bf16"`` are taken as given. log-densities are always summed in float32.
"""

from __future__ import annotations

from typing import Literal

import torch

from .errors import VaekitError

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(choice: str) -> torch.device:
    """auto → cuda when a CUDA device is present, else cpu; cuda without one is a clear error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise VaekitError("--device cuda was asked for, but no CUDA device is available")
    if choice not in ("auto", "cpu", "cuda"):
        raise VaekitError(f"unknown device '{choice}': expected auto, cpu or cuda")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def bf16_matmul_is_fast() -> bool:
    """True on CPUs with native bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 is ~3x fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(
    precision: str, device: torch.device, *, training: bool = False, sequence: bool = False
) -> Literal["fp32", "bf16"]:
    """The precision ``precision`` means on ``device`` (see the module doc): for training when ``training``, for a
    sequence (molecule) model when ``sequence``."""
    if precision not in PRECISIONS:
        raise VaekitError(f"unknown precision '{precision}': expected {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision  # type: ignore[return-value]
    if device.type == "cuda":
        return "bf16"
    if device.type == "cpu" and bf16_matmul_is_fast() and (sequence or not training):
        return "bf16"
    return "fp32"

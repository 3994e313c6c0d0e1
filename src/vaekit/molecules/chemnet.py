"""ChemNet activations for the Fréchet ChemNet Distance (Preuer et al. 2018), with the weights ``fcd_torch`` ships.

fcd_torch stores ChemNet as a torch-saved list of (layer type, (state dict, constructor arguments, extra info)).
vaekit loads it with ``torch.load(weights_only=True)`` — torch's restricted unpickler that accepts only tensors and
plain containers, so loading cannot execute code — and builds the layers with fcd_torch's own
``load_imported_model``, then runs the network itself (fcd_torch's ``FCD`` class calls ``np.row_stack``, deprecated
in NumPy 2 and so an error under warnings-as-errors, and uses a DataLoader; the inputs and the network are the same).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import progress
from ._deps import INSTALL_EXTRA, missing

PAD_LEN = 350  # fcd_torch's SmilesDataset pads every SMILES to this many one-hot rows
FEATURES = 512  # activations of ChemNet's last LSTM


@functools.cache
def chemnet() -> nn.Module:
    """ChemNet in eval mode on the CPU, loaded without executing code (cached)."""
    try:
        from fcd_torch import utils as fcd_utils
    except ImportError:
        raise missing("fcd_torch (needed for FCD)", INSTALL_EXTRA) from None
    path = Path(fcd_utils.__file__).with_name("ChemNet_v0.13_pretrained.pt")
    config = torch.load(path, map_location="cpu", weights_only=True)
    return fcd_utils.load_imported_model(config).eval()


def _one_hot(smiles: Sequence[str]) -> torch.Tensor:
    """fcd_torch's input encoding: (N, 35, PAD_LEN) one-hot characters scaled by 1/35."""
    from fcd_torch.utils import get_one_hot

    x = np.stack([get_one_hot(s, PAD_LEN) for s in smiles])
    return torch.from_numpy(x / x.shape[2]).float().transpose(1, 2)


@torch.inference_mode()
def activations(smiles: Sequence[str], batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """ChemNet's penultimate activations of canonical SMILES. (N, 512) float64"""
    model = chemnet().to(device)
    out = [np.zeros((0, FEATURES))]
    for i in progress.track(range(0, len(smiles), batch_size), f"ChemNet activations of {len(smiles):,} molecules"):
        x = _one_hot(smiles[i : i + batch_size]).to(device)
        out.append(model(x).double().cpu().numpy())
    return np.concatenate(out)


def gaussian_stats(smiles: Sequence[str], batch_size: int = 512, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Mean (512,) and covariance (512, 512) of the ChemNet activations of at least two molecules."""
    if len(smiles) < 2:
        raise ValueError(f"FCD needs at least 2 molecules, got {len(smiles)}")
    act = activations(smiles, batch_size, device)
    return act.mean(0), np.cov(act, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||² + tr(S1 + S2 - 2 (S1 S2)^½), with tr (S1 S2)^½ from the symmetric PSD matrix
    S1^½ S2 S1^½ (same eigenvalues as S1 S2), so no complex square roots arise."""
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ sigma2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)

"""Writes tests/fixtures/bundle_v1: a tiny bundle of format version 1 and the outputs it must keep giving.

Run once when the format is introduced; the test suite then checks every later vaekit still loads it.
"""

from pathlib import Path

import numpy as np
import torch

from vaekit import VAE
from vaekit.core.likelihoods import GaussianConfig
from vaekit.data.schema import Schema
from vaekit.models.module import ModelConfig
from vaekit.nn import MLPConfig

HERE = Path(__file__).parent / "fixtures" / "bundle_v1"

if __name__ == "__main__":
    torch.manual_seed(0)
    schema = Schema(kind="table", shape=(3,), columns=("a", "b", "c"), source="fixture")
    model = VAE(ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(8,)), likelihood=GaussianConfig()), schema)
    model.fit_data_stats(torch.randn(50, 3) * torch.tensor([1.0, 10.0, 0.1]) + 5)
    model.save(HERE, training={"data": "<in-memory>"})
    z = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    with torch.no_grad():
        np.save(HERE / "expected_decode.npy", model.decode(z).mean.numpy())

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaekit import VAE
from vaekit.core.likelihoods import GaussianConfig
from vaekit.data.schema import Schema
from vaekit.models.module import ModelConfig
from vaekit.nn import MLPConfig

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread: with two, on a busy 2-core machine, they ran 16x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist():
    from vaekit.data import load_dataset

    return load_dataset("mnist")


DX, DZ, NOISE_VAR = 5, 2, 0.25


@pytest.fixture(scope="module")
def linear_gaussian():
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s2 I): log p(x) = log N(x; b, W W^T + s2 I) exactly.

    Returns (model, x drawn from the model, exact log p(x), the marginal distribution of x).

    The encoder gives the exact posterior mean with too wide a variance: a usable but loose proposal q."""
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(DX, DZ, generator=g), torch.randn(DX, generator=g)
    model = VAE(
        ModelConfig(latent_dim=DZ, architecture=MLPConfig(hidden=()), likelihood=GaussianConfig()),
        Schema("vector", (DX,)),
    ).eval()
    post_cov = torch.linalg.inv(torch.eye(DZ) + w.T @ w / NOISE_VAR)
    with torch.no_grad():
        dec, enc = model.decoder.net[0], model.encoder.net[0]
        dec.weight.zero_(), dec.bias.zero_()
        dec.weight[:DX] = w
        dec.bias[:DX] = b
        dec.bias[DX:] = math.log(NOISE_VAR)
        gain = post_cov @ w.T / NOISE_VAR  # posterior mean = gain (x - b)
        enc.weight.zero_(), enc.bias.zero_()
        enc.weight[:DZ] = gain
        enc.bias[:DZ] = -gain @ b
        enc.bias[DZ:] = torch.log(torch.diagonal(post_cov)) + 1.0  # too wide: q is a deliberately loose proposal
    marginal = MultivariateNormal(b, w @ w.T + NOISE_VAR * torch.eye(DX))
    with torch.random.fork_rng():  # the same data whatever ran before (the global generator is left as it was)
        torch.manual_seed(0)
        x = marginal.sample((4000,))
    return model, x, marginal.log_prob(x).double(), marginal

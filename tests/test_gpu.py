"""The CUDA path (bf16 autocast): runs only where a GPU is present; CI has none."""

import pytest
import torch

from vaekit import load as load_model
from vaekit.training import train
from vaekit.workflows.evaluate import evaluate

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_training_saves_a_bundle_that_loads_on_cpu(mnist, tmp_path):
    model = train(mnist, tmp_path / "run", device="cuda", epochs=2, subset=5000, hidden=(128,), latent_dim=8)
    h = model.history
    assert all(torch.isfinite(torch.tensor(r["elbo"])) for r in h) and h[-1]["val_elbo"] > h[0]["val_elbo"]
    loaded = load_model(tmp_path / "run")
    x = mnist.splits["test"][:16]
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x))


def test_cuda_and_cpu_agree_on_the_first_steps(mnist):
    kw = {"epochs": 1, "subset": 2000, "hidden": (64,), "latent_dim": 4, "val_fraction": 0.0}
    cpu = train(mnist, device="cpu", **kw).history[0]["elbo"]
    gpu = train(mnist, device="cuda", **kw).history[0]["elbo"]
    assert abs(cpu - gpu) < 0.05 * abs(cpu)  # bf16 autocast and other noise streams: close, not equal


def test_a_cpu_run_resumes_on_cuda(mnist, tmp_path):
    kw = {"subset": 2000, "hidden": (64,), "latent_dim": 4}
    train(mnist, tmp_path / "run", device="cpu", epochs=1, **kw)
    model = train(mnist, tmp_path / "run", resume=True, device="cuda", epochs=2)
    assert [r["epoch"] for r in model.history] == [1, 2]
    assert model.history[1]["val_elbo"] > model.history[0]["val_elbo"]


def test_evaluate_on_cuda_matches_cpu(mnist, tmp_path):
    train(mnist, tmp_path / "run", device="cpu", epochs=1, subset=2000, hidden=(64,), latent_dim=4)
    kw = {"data": "mnist", "split": "test", "iw_samples": 50, "precision": "fp32", "write": False}
    cpu, gpu = (evaluate(tmp_path / "run", device=d, **kw) for d in ("cpu", "cuda"))
    assert gpu["device"] == "cuda" and cpu["device"] == "cpu"
    assert gpu["elbo"] == pytest.approx(cpu["elbo"], abs=0.3)  # other noise streams: close, not equal
    assert gpu["nll"] == pytest.approx(cpu["nll"], abs=0.3)
    assert gpu["active_units"] == cpu["active_units"]

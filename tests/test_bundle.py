"""The bundle: safe loading (no pickles), clear refusals, versioned format, training-state round trip."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit import VAE
from vaekit import load as load_model
from vaekit.bundle import load_checkpoint, save_checkpoint
from vaekit.data.schema import Schema
from vaekit.errors import BundleError
from vaekit.models.module import PRESETS

FIXTURE = Path(__file__).parent / "fixtures" / "bundle_v1"


@pytest.fixture
def saved(tmp_path):
    model = VAE(PRESETS["seed"], Schema("image", (1, 28, 28)))
    model.save(tmp_path / "run")
    return model, tmp_path / "run"


def test_versioned_fixture_bundle_keeps_loading():
    model = load_model(FIXTURE)
    assert model.schema.columns == ("a", "b", "c")
    z = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    expected = np.load(FIXTURE / "expected_decode.npy")
    np.testing.assert_allclose(model.decode(z).mean.detach().numpy(), expected, rtol=1e-6, atol=1e-6)


def test_pickled_weights_are_refused(saved):
    model, run = saved
    torch.save(model.state_dict(), run / "model.safetensors")  # a pickle (zip) under the safetensors name
    with pytest.raises(BundleError, match="pickle"):
        load_model(run)


def test_only_a_pickle_file_is_refused(saved):
    model, run = saved
    (run / "model.safetensors").unlink()
    torch.save(model.state_dict(), run / "model.pt")
    with pytest.raises(BundleError, match="model.pt"):
        load_model(run)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such run folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="not a vaekit run"):
        load_model(tmp_path / "empty")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        load_model(tmp_path / "f.txt")


def test_corrupt_and_future_configs(saved):
    _, run = saved
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(BundleError, match="newer vaekit"):
        load_model(run)
    (run / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_model(run)


def test_truncated_weights_are_refused(saved):
    _, run = saved
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="safetensors"):
        load_model(run)


def test_weights_of_another_architecture_are_refused(saved, tmp_path):
    _, run = saved
    other = VAE(PRESETS["conv"], Schema("image", (1, 28, 28)))
    other.save(tmp_path / "other")
    shutil.copy(tmp_path / "other" / "model.safetensors", run / "model.safetensors")
    with pytest.raises(BundleError, match="does not match"):
        load_model(run)


def test_checkpoint_round_trip_restores_optimizer_and_rng(tmp_path):
    model = VAE(PRESETS["seed"], Schema("image", (1, 28, 28)))
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    x = torch.rand(8, 1, 28, 28)
    model.decode(model.encode(x).mean).log_prob(x).sum().neg().backward()
    opt.step()
    g = torch.Generator().manual_seed(7)
    save_checkpoint(tmp_path, model.state_dict(), {"optimizer": opt.state_dict(), "rng": g.get_state(), "n": 3})
    weights, state = load_checkpoint(tmp_path)
    opt2 = torch.optim.Adam(VAE(PRESETS["seed"], Schema("image", (1, 28, 28))).parameters())
    opt2.load_state_dict(state["optimizer"])
    for a, b in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values(), strict=True):
        torch.testing.assert_close(a["exp_avg"], b["exp_avg"])
    assert opt2.param_groups[0]["lr"] == 3e-4 and state["n"] == 3
    g2 = torch.Generator()
    g2.set_state(state["rng"])
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=g2))
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())

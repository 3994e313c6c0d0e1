"""The model contract: shapes for every architecture, save -> load equality, inputs, sampling helpers."""

import numpy as np
import pytest
import torch

from vaekit import VAE
from vaekit import load as load_model
from vaekit.core.likelihoods import BernoulliConfig, GaussianConfig
from vaekit.data.schema import Schema
from vaekit.errors import DataError
from vaekit.models.module import PRESETS, ModelConfig, slerp_path
from vaekit.nn import ConvConfig, MLPConfig, ResConvConfig

IMAGE_SHAPES = [(1, 28, 28), (3, 32, 32), (1, 16, 16), (3, 30, 17), (2, 64, 48)]


def image_model(arch, shape, **kw):
    torch.manual_seed(0)
    return VAE(ModelConfig(latent_dim=6, architecture=arch, **kw), Schema("image", shape))


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize(
    "arch", [MLPConfig(hidden=(32,)), ConvConfig(channels=8, hidden=32), ResConvConfig(channels=4, hidden=16)]
)
@pytest.mark.parametrize("likelihood", [BernoulliConfig(), GaussianConfig()])
def test_shapes_for_any_image_size(arch, shape, likelihood):
    model = image_model(arch, shape, likelihood=likelihood)
    x = torch.rand(3, *shape)
    q = model.encode(x)
    assert q.mean.shape == (3, 6) and q.stddev.shape == (3, 6)
    assert model.decode(q.sample()).mean.shape == (3, *shape)
    assert model.reconstruct(x).shape == (3, *shape)
    assert model.sample(4, seed=0).shape == (4, *shape)


def test_conv_refuses_tiny_images():
    with pytest.raises(ValueError, match="16x16"):
        image_model(ConvConfig(), (1, 8, 8))


def test_seed_preset_is_the_classic_784_400_20():
    model = VAE(PRESETS["seed"], Schema("image", (1, 28, 28)))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 400),
        (400, 40),
        (20, 400),
        (400, 784),
    ]


@pytest.mark.parametrize(
    "cfg",
    [
        PRESETS["seed"],
        PRESETS["conv"],
        PRESETS["resconv"],
        ModelConfig(autoencoder=True),
        ModelConfig(likelihood=GaussianConfig()),
    ],
)
def test_save_load_gives_identical_outputs(tmp_path, cfg):
    torch.manual_seed(1)
    model = VAE(cfg, Schema("image", (1, 28, 28))).eval()
    model.fit_data_stats(torch.rand(10, 1, 28, 28))
    model.save(tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    assert loaded.config == cfg
    x = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(loaded.encode(x).mean, model.encode(x).mean, rtol=0, atol=0)
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
    torch.testing.assert_close(loaded.sample(3, seed=5), model.sample(3, seed=5), rtol=0, atol=0)


def test_config_round_trips_through_json_dict():
    for cfg in PRESETS.values():
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({**PRESETS["seed"].to_dict(), "latent_dimm": 3})


def test_table_standardization_is_inside_the_model():
    schema = Schema("table", (2,), columns=("a", "b"))
    model = VAE(ModelConfig(latent_dim=2, likelihood=GaussianConfig()), schema)
    x = torch.tensor([[100.0, -1.0], [200.0, 1.0], [300.0, 0.0]])
    model.fit_data_stats(x)
    torch.testing.assert_close(model.shift, torch.tensor([200.0, 0.0]))
    torch.testing.assert_close(model.scale, torch.tensor([100.0, 1.0]))
    assert model.decode(torch.zeros(1, 2)).mean.shape == (1, 2)


def test_inputs_numpy_uint8_single_sample_and_bad_shape():
    model = image_model(MLPConfig(hidden=(16,)), (1, 28, 28))
    u8 = (np.random.default_rng(0).random((2, 28, 28)) * 255).astype(np.uint8)
    a = model.encode(u8).mean
    b = model.encode(torch.from_numpy(u8).float().div(255).view(2, 1, 28, 28)).mean
    torch.testing.assert_close(a, b)
    assert model.encode(np.zeros((1, 28, 28), dtype=np.float32)).mean.shape == (1, 6)
    with pytest.raises(DataError, match="expected"):
        model.encode(np.zeros((2, 27, 28), dtype=np.float32))
    with pytest.raises(DataError, match="NaN"):
        model.encode(np.full((1, 28, 28), np.nan, dtype=np.float32))
    with pytest.raises(DataError, match="dimensions"):
        model.decode(torch.zeros(1, 5))


def test_interpolate_ends_at_the_two_inputs_and_slerp_keeps_endpoints():
    model = image_model(MLPConfig(hidden=(16,)), (1, 28, 28))
    a, b = torch.rand(1, 28, 28), torch.rand(1, 28, 28)
    for slerp in (False, True):
        path = model.interpolate(a, b, steps=5, slerp=slerp)
        assert path.shape == (5, 1, 28, 28)
        torch.testing.assert_close(path[0], model.reconstruct(a)[0])
        torch.testing.assert_close(path[-1], model.reconstruct(b)[0])
    za, zb = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    mid = slerp_path(za, zb, torch.tensor([[0.5]]))[0]
    assert torch.isclose(mid.norm(), torch.tensor(3.0), atol=1e-4)  # stays on the sphere (lerp: 2.12)


def test_sample_is_reproducible_with_a_seed_and_traverse_varies_one_dim():
    model = image_model(MLPConfig(hidden=(16,)), (1, 28, 28))
    assert torch.equal(model.sample(4, seed=3), model.sample(4, seed=3))
    assert not torch.equal(model.sample(4, seed=3), model.sample(4, seed=4))
    t = model.traverse([0, 2], span=2.0, steps=3)
    assert t.shape == (2, 3, 1, 28, 28)
    with pytest.raises(DataError, match="out of range"):
        model.traverse([7])


def test_autoencoder_codes_drive_sampling():
    model = image_model(MLPConfig(hidden=(16,)), (1, 28, 28), autoencoder=True)
    x = torch.rand(64, 1, 28, 28)
    model.fit_code_stats(x)
    codes = model.encode(x).mean
    torch.testing.assert_close(model.code_mean, codes.mean(0))
    assert torch.equal(model.encode(x).kl(), torch.zeros(64))


def test_fitted_code_prior_samples_where_the_training_codes_lie(tmp_path):
    """code_prior="fitted": a full-covariance Gaussian of the training codes, which sample() draws from (prior=True:
    N(0, I)); it is saved and loaded with the weights. A standard model has no such buffers (bundles of earlier
    releases keep loading)."""
    assert "group_mean" not in image_model(MLPConfig(hidden=(16,)), (1, 28, 28)).state_dict()
    model = image_model(MLPConfig(hidden=(16,)), (1, 28, 28), code_prior="fitted").eval()
    x = torch.rand(300, 1, 28, 28)
    with torch.no_grad():  # the encoder's means, moved and correlated: what the fitted Gaussian has to find
        model.encoder.net[-1].bias[:6] += torch.arange(6.0)
    model.fit_code_stats(x, limit=200)
    codes = model.encode(x[torch.linspace(0, 299, 200).long()]).mean.double()
    torch.testing.assert_close(model.group_mean[0].double(), codes.mean(0), rtol=0, atol=1e-5)
    cov = model.group_chol[0].double() @ model.group_chol[0].double().T
    torch.testing.assert_close(cov, torch.cov(codes.T) + 1e-4 * torch.eye(6, dtype=torch.float64), rtol=1e-4,
                               atol=1e-6)  # fmt: skip
    drawn = model.sample_codes(None, torch.Generator().manual_seed(0), n=4000).double()
    assert (drawn.mean(0) - codes.mean(0)).abs().max() < 0.1
    model.save(tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    assert loaded.config.code_prior == "fitted"
    torch.testing.assert_close(loaded.sample(3, seed=5), model.sample(3, seed=5), rtol=0, atol=0)
    with torch.no_grad():  # sample() decodes the fitted codes; prior=True decodes N(0, I)
        fitted = model.decode(model.sample_codes(None, torch.Generator().manual_seed(5), n=3)).mean
        standard = model.decode(torch.randn(3, 6, generator=torch.Generator().manual_seed(5))).mean
    torch.testing.assert_close(model.sample(3, seed=5), fitted)
    torch.testing.assert_close(model.sample(3, seed=5, prior=True), standard)


def test_decode_accepts_extra_batch_dims_and_log_prob_broadcasts():
    model = image_model(ConvConfig(channels=8, hidden=32), (3, 20, 18), likelihood=GaussianConfig())
    z = torch.randn(5, 2, 6)  # K=5 samples for each of 2 inputs
    lik = model.decode(z)
    assert lik.mean.shape == (5, 2, 3, 20, 18)
    x = torch.rand(2, 3, 20, 18)
    lp = lik.log_prob(x)
    assert lp.shape == (5, 2)
    torch.testing.assert_close(lp[3], model.decode(z[3]).log_prob(x))

"""The sequential VAE for frames (video clips, time series; SVG-LP): shapes, determinism, the bound, gradients,
learning a predictable motion, NaN-padded series, save -> load, generation past the trained length, refusals."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from vaekit import VAE
from vaekit import load as load_model
from vaekit.bundle import bundle_config
from vaekit.core.likelihoods import GaussianConfig, MixedConfig
from vaekit.core.losses import elbo_loss
from vaekit.data.schema import Attributes, Schema
from vaekit.errors import DataError, VaekitError
from vaekit.models.module import PRESETS, ModelConfig
from vaekit.nn import FramesConfig
from vaekit.training.config import TrainConfig
from vaekit.training.loop import fit

TINY = FramesConfig(channels=4, hidden=16, features=16, rnn=16, predictor_layers=2)


def video_model(shape=(6, 1, 16, 16), latent: int = 3, arch: FramesConfig = TINY, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(ModelConfig(latent_dim=latent, architecture=arch), Schema("video", shape))


def series_model(shape=(8, 2), latent: int = 3, arch: FramesConfig = TINY, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(ModelConfig(latent_dim=latent, architecture=arch, likelihood=GaussianConfig()), Schema("series", shape))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_line(e: pytest.ExceptionInfo) -> bool:
    return "\n" not in str(e.value) and len(str(e.value)) > 10


@pytest.mark.parametrize("frame", [(1, 16, 16), (3, 32, 32), (2, 13, 9), (1, 8, 8)])
def test_video_shapes(frame):
    model = video_model((5, *frame))
    x = torch.rand(2, 5, *frame)
    latents, likelihood = model(x, gen())
    assert latents.z.shape == (2, 5 * 3) and latents.kl_terms.shape == latents.log_ratio.shape == (2,)
    assert likelihood.mean.shape == (2, 5, *frame) and likelihood.log_prob(x).shape == (2,)
    assert model.frame_elbo(x).shape == (2, 5)
    assert model.encode(x).mean.shape == (2, 15)
    assert model.decode(latents.z).mean.shape == (2, 5, *frame)
    assert model.sample_frames(3, 4, gen()).shape == (3, 4, *frame)
    assert model.predict_frames(x[:, :2], 3, samples=4, generator=gen()).shape == (4, 2, 3, *frame)
    assert model.sample(2, seed=0).shape == (2, 5, *frame)  # VAE.sample: whole clips of the trained length


def test_series_shapes_and_per_channel_standardization():
    model = series_model((8, 2))
    x = torch.randn(4, 8, 2) * torch.tensor([10.0, 0.1]) + torch.tensor([100.0, -5.0])
    x[0, 5:] = math.nan  # end padding
    x[1, 3, 1] = math.nan  # a missing value
    model.fit_data_stats(x)
    observed = x[~torch.isnan(x).any(-1)]
    assert model.shift.shape == (8, 2) and torch.allclose(model.shift, model.shift[0].expand(8, 2))
    torch.testing.assert_close(model.shift[0], x.nanmean((0, 1)))
    assert 5 < model.scale[0, 0] < 20 and 0.05 < model.scale[0, 1] < 0.2 and len(observed)
    latents, likelihood = model(x, gen())
    assert latents.z.shape == (4, 24) and likelihood.mean.shape == (4, 8, 2)
    assert torch.isfinite(likelihood.log_prob(x)).all()
    samples = model.sample_frames(3, 5, gen())
    assert samples.shape == (3, 5, 2) and samples[..., 0].abs().mean() > 50  # in data units
    assert model.predict_frames(x[:, :4], 6, samples=2, generator=gen()).shape == (2, 4, 6, 2)


def test_seeded_generator_makes_everything_deterministic():
    model = video_model()
    x = torch.rand(3, 6, 1, 16, 16)
    a, b = model(x, gen(1)), model(x, gen(1))
    torch.testing.assert_close(a[0].z, b[0].z, rtol=0, atol=0)
    torch.testing.assert_close(a[1].mean, b[1].mean, rtol=0, atol=0)
    assert not torch.equal(a[0].z, model(x, gen(2))[0].z)
    torch.testing.assert_close(model.sample_frames(2, 5, gen(3)), model.sample_frames(2, 5, gen(3)), rtol=0, atol=0)
    assert not torch.equal(model.sample_frames(2, 5, gen(3)), model.sample_frames(2, 5, gen(4)))
    p1, p2 = (model.predict_frames(x[:, :3], 4, 2, gen(5)) for _ in range(2))
    torch.testing.assert_close(p1, p2, rtol=0, atol=0)
    assert not torch.equal(p1[0], p1[1])  # independent continuations
    torch.testing.assert_close(model.sample(2, seed=7), model.sample(2, seed=7), rtol=0, atol=0)
    # a temperature below 1 draws z_t closer to the prior's means
    cold, warm = model.sample_frames(4, 5, gen(3), temperature=0.01), model.sample_frames(4, 5, gen(3))
    assert not torch.equal(cold, warm)


@pytest.mark.parametrize("make", [video_model, series_model])
def test_teacher_forced_elbo_is_finite_kl_nonnegative_and_frame_terms_sum_to_it(make):
    model = make()
    x = torch.rand(4, *model.schema.shape)
    latents, likelihood = model(x, gen(0))
    out = elbo_loss(x, latents, likelihood)
    assert torch.isfinite(out.loss) and torch.isfinite(out.elbo).all()
    assert (latents.kl_terms >= 0).all() and (latents.kl_dims >= 0).all()
    torch.testing.assert_close(latents.kl_dims.sum(-1), latents.kl_terms)
    torch.testing.assert_close(model.frame_elbo(x, gen(0)).sum(-1), out.elbo.detach())
    # the closed-form KL is the expectation of log q - log p: close to its Monte Carlo estimate
    with torch.no_grad():
        draws = -model(x.repeat(500, *[1] * (x.dim() - 1)), gen(1))[0].log_ratio.view(500, 4)
    torch.testing.assert_close(draws.mean(0), latents.kl_terms.detach(), atol=0.1 * model.schema.shape[0], rtol=0.1)
    q = model.encode(x)
    mean, kl = model.latent_stats(x)
    assert q.mean.shape == mean.shape == kl.shape == (4, model.schema.shape[0] * 3) and (kl >= 0).all()


@pytest.mark.parametrize("make", [video_model, series_model])
def test_gradients_reach_every_parameter(make):
    model = make()
    x = torch.rand(3, *model.schema.shape)
    latents, likelihood = model(x, gen())
    elbo_loss(x, latents, likelihood).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def sines(n: int, steps: int, seed: int = 0, noise: float = 0.05) -> torch.Tensor:
    """Sine waves of one frequency and random phases (and a little noise): two steps tell the rest. (n, steps, 1)"""
    g = gen(seed)
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    t = torch.arange(steps)[None]
    return (torch.sin(0.6 * t + phase) + noise * torch.randn(n, steps, generator=g))[..., None]


def test_learns_a_sine_and_predicts_better_than_copying_the_last_step():
    arch = FramesConfig(hidden=32, features=16, rnn=32, predictor_layers=1)
    model = series_model((12, 1), latent=2, arch=arch)
    x = sines(512, 12)
    model.fit_data_stats(x)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g, losses, threads = gen(0), [], torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small gain nothing from a second thread, and lose a lot on a busy machine
    try:
        for step in range(100):
            xb = x[(step * 32) % 512 :][:32]
            out = elbo_loss(xb, *model(xb, g))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            losses.append(out.loss.item())
    finally:
        torch.set_num_threads(threads)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 15, (first, last)  # nats per series of 12 steps
    test = sines(64, 20, seed=1, noise=0.0)  # continued past the trained length
    context, future = test[:, :4], test[:, 4:]
    predicted = model.predict_frames(context, future.shape[1], samples=1, generator=gen(1))[0]
    copied = context[:, -1:].expand_as(future)
    mse, copy_mse = (predicted - future).square().mean(), (copied - future).square().mean()
    assert mse < 0.1 * copy_mse and mse < 0.1 * future.square().mean(), (mse, copy_mse)


def test_nan_padded_steps_do_not_change_the_loss():
    model = series_model((10, 2))
    x = torch.randn(1, 10, 2)
    model.fit_data_stats(torch.randn(5, 10, 2) * 3 + 1)
    padded = x.clone()
    padded[:, 6:] = math.nan
    truncated = x[:, :6]
    a, b = model(padded, gen(3)), model(truncated, gen(3))
    out_a, out_b = elbo_loss(padded, *a), elbo_loss(truncated, *b)
    torch.testing.assert_close(out_a.loss, out_b.loss)
    torch.testing.assert_close(out_a.kl, out_b.kl)
    torch.testing.assert_close(out_a.reconstruction, out_b.reconstruction)
    per_frame = model.frame_elbo(padded, gen(3))
    assert (per_frame[:, 6:] == 0).all() and (per_frame[:, :6] != 0).all()
    # the loss did change if the padding held values
    assert not torch.isclose(elbo_loss(x, *model(x, gen(3))).loss, out_b.loss)


def test_save_load_round_trip_gives_identical_clips(tmp_path):
    model = series_model((6, 3)).eval()
    model.fit_data_stats(torch.randn(8, 6, 3) * 2 + 5)
    cfg = json.loads(json.dumps(bundle_config(model)))
    assert ModelConfig.from_dict({**cfg["model"], "likelihood": cfg["likelihood"]}) == model.config
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = VAE.from_config(cfg)
    loaded.load_state_dict(load_file(str(tmp_path / "w.safetensors")))
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(loaded.sample_frames(3, 8, gen(2)), model.sample_frames(3, 8, gen(2)), rtol=0, atol=0)
    torch.testing.assert_close(loaded.predict_frames(x, 2, 2, gen(4)), model.predict_frames(x, 2, 2, gen(4)))


@pytest.mark.parametrize("make", [video_model, series_model])
def test_bundle_save_load(tmp_path, make):
    model = make().eval()
    model.save(tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    assert loaded.config == model.config and loaded.schema == model.schema
    torch.testing.assert_close(loaded.sample_frames(2, 9, gen(2)), model.sample_frames(2, 9, gen(2)), rtol=0, atol=0)


def test_generates_longer_than_trained():
    model = video_model((4, 1, 16, 16))
    clips = model.sample_frames(2, 12, gen())
    assert clips.shape == (2, 12, 1, 16, 16) and torch.isfinite(clips).all() and (clips >= 0).all()
    x = torch.rand(2, 9, 1, 16, 16)  # longer clips than trained are scored too
    assert model.frame_elbo(x).shape == (2, 9)
    assert model.predict_frames(x, 10, 1, gen()).shape == (1, 2, 10, 1, 16, 16)


@pytest.mark.parametrize("make", [video_model, series_model])
def test_the_training_loop_trains_it_unchanged(make):
    model = make()
    x = torch.rand(48, *model.schema.shape)
    if model.schema.kind == "series":
        x[:8, 5:] = math.nan
        model.fit_data_stats(x)
    state = fit(model, x[:40], x[40:], TrainConfig(epochs=2, batch_size=16, kl_warmup=1.0, free_bits=0.05))
    assert state.epoch == 2 and all(math.isfinite(r["val_elbo"]) for r in state.history)


def test_refusals_are_one_line():
    refused = [
        dict(autoencoder=True),
        dict(top_latent_dim=2),
        dict(properties=("qed",)),
        dict(code_prior="fitted"),
    ]
    for changes in refused:
        with pytest.raises(ValueError, match="frames model") as e:
            VAE(ModelConfig(latent_dim=2, architecture=TINY, **changes), Schema("series", (5, 2)))
        assert one_line(e)
    with pytest.raises(ValueError, match="mixed") as e:
        VAE(ModelConfig(latent_dim=2, architecture=TINY, likelihood=MixedConfig((0, 0))), Schema("series", (5, 2)))
    assert one_line(e)
    condition = Attributes(names=("label",), types=("categorical",), categories={"label": ("a", "b")})
    with pytest.raises(ValueError, match="condition") as e:
        VAE(ModelConfig(latent_dim=2, architecture=TINY), Schema("video", (3, 1, 16, 16), condition=condition))
    assert one_line(e)
    for schema in (Schema("image", (1, 16, 16)), Schema("series", (5,)), Schema("video", (5, 16, 16))):
        with pytest.raises(ValueError, match="video") as e:
            VAE(ModelConfig(latent_dim=2, architecture=TINY), schema)
        assert one_line(e)
    with pytest.raises(ValueError, match="8x8") as e:
        video_model((3, 1, 6, 6))
    assert one_line(e)
    model = video_model()
    x = torch.rand(2, 6, 1, 16, 16)
    with pytest.raises(ValueError, match="IWAE") as e:
        model(x, gen(), sample_shape=(5,))
    assert one_line(e)
    with pytest.raises(ValueError, match="IWAE"):
        model.sample_latents(model.encode_levels(x), (5,))
    with pytest.raises(ValueError, match="IWAE"):
        fit(model, x, None, TrainConfig(epochs=1, objective="iwae", val_fraction=0))
    with pytest.raises(VaekitError) as e:
        fit(model, x, None, TrainConfig(epochs=1, objective="betatc", val_fraction=0))
    assert one_line(e)
    for call in (
        lambda: model(x, gen(), condition=[0, 1]),
        lambda: model(torch.rand(2, 6, 1, 8, 8)),
        lambda: model(x.masked_fill(x > 0.9, math.nan)),
        lambda: model.sample_frames(0, 3),
        lambda: model.sample_frames(2, 0),
        lambda: model.sample_frames(2, 3, temperature=0),
        lambda: model.decode(torch.zeros(2, 7)),
        lambda: model.predict_frames(x, 2, samples=0),
        lambda: VAE(PRESETS["seed"], Schema("image", (1, 28, 28))).sample_frames(1, 2),
    ):
        with pytest.raises(DataError) as e:
            call()
        assert one_line(e)


def test_presets_build_for_their_data():
    video = VAE(PRESETS["video"], Schema("video", (20, 1, 64, 64)))
    series = VAE(
        ModelConfig.from_dict({**PRESETS["series"].to_dict(), "likelihood": {"kind": "gaussian"}}),
        Schema("series", (100, 3)),
    )
    assert video.is_frames and series.is_frames
    for preset in ("video", "series"):
        assert ModelConfig.from_dict(PRESETS[preset].to_dict()) == PRESETS[preset]

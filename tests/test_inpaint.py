"""Inpainting, denoising and --corrupt training: observed pixels untouched, better than the mean image, mask
conventions, denoising VAE inputs vs targets, resume, the CLI end to end and one-line refusals of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from test_cli import ok, refused, snapshot
from test_train import StopAt, metrics, read_metrics, small

import vaekit.training.loop as loop
from vaekit import VAE
from vaekit import load as load_model
from vaekit.core.corruption import corrupt, parse_corrupt
from vaekit.errors import DataError, VaekitError
from vaekit.training import train


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist) -> Path:
    """A small MNIST model, good enough to beat the mean image at filling holes."""
    out = tmp_path_factory.mktemp("inpaint") / "RUN"
    train(mnist, out, hidden=(128,), latent_dim=8, subset=4000, epochs=4, batch_size=64, val_fraction=0.05)
    return out


@pytest.fixture(scope="module")
def model(run) -> VAE:
    return load_model(run)


@pytest.fixture(scope="module")
def digits(mnist) -> torch.Tensor:
    return mnist.splits["test"][:60]  # (60, 1, 28, 28) in [0, 1]


def bottom_half(n: int = 1) -> torch.Tensor:
    holes = torch.zeros(n, 1, 28, 28, dtype=torch.bool)
    holes[..., 14:, :] = True
    return holes


# -- the library ---------------------------------------------------------------------------------------------
def test_inpainting_keeps_observed_pixels_and_beats_the_mean_image(model, mnist, digits):
    mean_image = mnist.splits["train"][:5000].mean(0)
    holes = torch.rand(digits.shape, generator=torch.Generator().manual_seed(0)) < 0.5
    for where, ratio in ((holes, 0.85), (bottom_half(len(digits)).expand_as(digits), 1.0)):
        r = model.inpaint(digits, where, k=30, refine=30)
        assert torch.equal(r.mean[~where], digits[~where]) and torch.equal(r.mask, ~where)
        assert r.mean.min() >= 0 and r.mean.max() <= 1
        vae_mse = ((r.mean - digits)[where] ** 2).mean()
        mean_mse = ((mean_image.expand_as(digits) - digits)[where] ** 2).mean()
        assert vae_mse < ratio * mean_mse, (vae_mse, mean_mse)


def test_draws_differ_from_each_other_and_the_seed_reproduces_them(model, digits):
    holes = bottom_half()
    r = model.inpaint(digits[:4], holes[0, 0], draws=3, k=50, refine=10, seed=1)
    assert r.draws.shape == (3, 4, 1, 28, 28)
    for d in r.draws:
        assert torch.equal(d[r.mask], digits[:4][r.mask])
    assert not torch.equal(r.draws[0], r.draws[1]) or not torch.equal(r.draws[1], r.draws[2])
    again = model.inpaint(digits[:4], holes[0, 0], draws=3, k=50, refine=10, seed=1)
    assert torch.equal(again.draws, r.draws) and torch.equal(again.mean, r.mean)


def test_mask_conventions_true_is_fill_nan_is_fill_and_masks_broadcast(model, digits):
    x = digits[:3]
    hw = torch.zeros(28, 28, dtype=torch.bool)
    hw[:5] = True
    a = model.inpaint(x, hw, k=10, refine=0)
    assert (~a.mask).sum() == 3 * 5 * 28  # (H, W): the same holes in every image, True = fill
    b = model.inpaint(x, hw.expand(3, 28, 28).numpy().astype(np.uint8) * 255, k=10, refine=0)  # (N, H, W) 0/255
    assert torch.equal(a.mean, b.mean)
    holed = x.clone()
    holed[:, :, :5] = torch.nan  # NaN pixels are holes too, no mask needed
    c = model.inpaint(holed, k=10, refine=0)
    assert torch.equal(c.mean, a.mean)
    per_image = torch.zeros(3, 28, 28, dtype=torch.bool)
    per_image[1, 10:20, 10:20] = True  # one image with holes, two with none: those come back unchanged
    d = model.inpaint(x, per_image, k=10, refine=0)
    assert torch.equal(d.mean[[0, 2]], x[[0, 2]]) and not torch.equal(d.mean[1], x[1])


def test_bad_library_inputs_are_refused(model, digits):
    with pytest.raises(DataError, match=r"mask has shape \(27, 28\)"):
        model.inpaint(digits[:2], torch.ones(27, 28))
    with pytest.raises(DataError, match="nothing to fill"):
        model.inpaint(digits[:2], torch.zeros(28, 28))
    with pytest.raises(DataError, match="infinite"):
        model.inpaint(torch.full((1, 1, 28, 28), torch.inf), torch.ones(28, 28))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        model.inpaint(digits[:1] * 3, torch.ones(28, 28))
    with pytest.raises(DataError, match="expected"):
        model.inpaint(torch.zeros(1, 1, 32, 32), torch.ones(32, 32))
    with pytest.raises(DataError, match="NaN"):
        model.denoise(torch.full((1, 1, 28, 28), torch.nan))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        model.denoise(digits[:1] - 0.5)


def test_denoise_returns_images_of_the_input_shape_in_range(model, digits):
    noisy = corrupt(digits[:5], "gaussian:0.3", torch.Generator().manual_seed(0))
    out = model.denoise(noisy)
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, model.reconstruct(noisy))  # the posterior-mean decode
    assert model.denoise(noisy, samples=4).shape == out.shape


# -- --corrupt ---------------------------------------------------------------------------------------------
def test_corrupt_specs_and_their_one_line_errors():
    assert parse_corrupt("gaussian:0.3") == ("gaussian", 0.3)
    for bad in ("blur:2", "gaussian", "dropout:1.5", "saltpepper:0", "gaussian:-1"):
        with pytest.raises(ValueError, match="gaussian:S with S in .*saltpepper:P or dropout:P with P in"):
            parse_corrupt(bad)
    x = torch.full((2000,), 0.5)
    sp = corrupt(x, "saltpepper:0.2", torch.Generator().manual_seed(0))
    changed = sp != 0.5
    assert 0.15 < changed.float().mean() < 0.25 and set(sp[changed].tolist()) == {0.0, 1.0}
    dropped = corrupt(x, "dropout:0.5", torch.Generator().manual_seed(0))
    assert 0.45 < (dropped == 0).float().mean() < 0.55
    table = torch.randn(500, 4)
    shift = table.mean(0)
    filled = corrupt(table, "dropout:0.3", torch.Generator().manual_seed(0), image=False, shift=shift)
    hidden = corrupt(table, "dropout:0.3", torch.Generator().manual_seed(0), image=False, shift=shift, as_missing=True)
    assert 0.25 < torch.isnan(hidden).float().mean() < 0.35  # a mask-reading table model sees them as missing...
    assert torch.equal(filled[torch.isnan(hidden)], shift.expand_as(table)[torch.isnan(hidden)])  # ...not as means
    assert torch.equal(filled[~torch.isnan(hidden)], table[~torch.isnan(hidden)])
    noisy = corrupt(x, "gaussian:0.3", torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and 0.2 < (noisy - x).std() < 0.3


def test_corrupt_changes_the_encoder_input_not_the_target_and_is_deterministic(mnist, monkeypatch):
    seen: dict[str, list[torch.Tensor]] = {"inputs": [], "targets": []}
    forward, elbo_loss = VAE.forward, loop.elbo_loss

    def spy_forward(self, x, *args, **kw):
        seen["inputs"].append(x.detach().clone())
        return forward(self, x, *args, **kw)

    def spy_loss(x, *args, **kw):
        seen["targets"].append(x.detach().clone())
        return elbo_loss(x, *args, **kw)

    monkeypatch.setattr(VAE, "forward", spy_forward)
    monkeypatch.setattr(loop, "elbo_loss", spy_loss)
    args = small(epochs=1, subset=300, val_fraction=0, binarize="none")
    plain = train(mnist, **args)
    clean_targets = seen["targets"]
    assert all(torch.equal(a, b) for a, b in zip(seen["inputs"], clean_targets, strict=True))
    seen["inputs"], seen["targets"] = [], []
    dvae = train(mnist, corrupt="dropout:0.5", **args)
    assert all(torch.equal(a, b) for a, b in zip(seen["targets"], clean_targets, strict=True))  # clean targets
    for x_in, target in zip(seen["inputs"], seen["targets"], strict=True):
        assert not torch.equal(x_in, target)
        assert torch.all((x_in == 0) | (x_in == target))  # dropped pixels, the rest as they were
    again = train(mnist, corrupt="dropout:0.5", **args)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in dvae.state_dict().items())
    assert not all(torch.equal(v, plain.state_dict()[k]) for k, v in dvae.state_dict().items())
    assert dvae.run_config["training"]["options"]["corrupt"] == "dropout:0.5"


def test_resume_with_corrupt_equals_the_uninterrupted_run(mnist, tmp_path):
    args = small(epochs=3, subset=400, corrupt="gaussian:0.3")
    full = train(mnist, tmp_path / "full", **args)
    with pytest.raises(KeyboardInterrupt):
        train(mnist, tmp_path / "cut", callbacks=[StopAt(3)], **args)
    resumed = train(mnist, tmp_path / "cut", resume=True)
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "full") == metrics(full.history)
    a, b = (load_file(tmp_path / r / "training_state/checkpoint.safetensors") for r in ("full", "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())
    with pytest.raises(VaekitError, match="different corrupt"):
        train(mnist, tmp_path / "cut", resume=True, epochs=4, corrupt="gaussian:0.5")


# -- the CLI -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory, digits) -> Path:
    folder = tmp_path_factory.mktemp("inpaint_files")
    pixels = (digits[:4, 0] * 255).round().to(torch.uint8).numpy()
    Image.fromarray(pixels[0]).save(folder / "digit.png")
    np.save(folder / "batch.npy", pixels)  # (4, 28, 28) uint8
    hole = np.zeros((28, 28), np.uint8)
    hole[14:] = 255
    Image.fromarray(hole).save(folder / "hole.png")  # white = fill
    np.save(folder / "holes.npy", np.broadcast_to(hole > 0, (4, 28, 28)))
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "big.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / "empty.png")
    return folder


def test_cli_inpaint_png_to_png_keeps_the_kept_pixels(run, files, tmp_path):
    out = tmp_path / "filled.png"
    result = ok("inpaint", run, "--input", files / "digit.png", "--mask", files / "hole.png", "--out", out)
    assert "filled 392 of 784 pixels in 1 image" in result.stdout
    with Image.open(out) as im:
        filled = np.asarray(im)
    with Image.open(files / "digit.png") as im:
        original = np.asarray(im)
    assert filled.shape == (28, 28)
    assert np.array_equal(filled[:14], original[:14]) and not np.array_equal(filled[14:], original[14:])


def test_cli_inpaint_batch_with_draws_and_denoise(run, files, tmp_path):
    ok("inpaint", run, "-i", files / "batch.npy", "--mask", files / "holes.npy", "--draws", 3, "--refine", 5, "-o",
       tmp_path / "d.npy")  # fmt: skip
    draws = np.load(tmp_path / "d.npy")
    assert draws.shape == (3, 4, 28, 28) and draws.dtype == np.float32
    kept = np.load(files / "batch.npy")[:, :14] / 255.0
    assert np.allclose(draws[:, :, :14], kept[None], atol=1e-6)
    ok("inpaint", run, "-i", files / "batch.npy", "--mask", files / "hole.png", "--draws", 2, "-o", tmp_path / "g.png")
    with Image.open(tmp_path / "g.png") as im:
        assert im.width > im.height / 4 * 3 * 0.9  # 4 rows of 3: the mean and two draws
    result = ok("denoise", run, "--input", files / "batch.npy", "--out", tmp_path / "clean.npy")
    assert "trained without --corrupt" in result.stdout
    clean = np.load(tmp_path / "clean.npy")
    assert clean.shape == (4, 28, 28) and clean.min() >= 0 and clean.max() <= 1
    ok("denoise", run, "--input", files / "digit.png", "--out", tmp_path / "clean.png")
    with Image.open(tmp_path / "clean.png") as im:
        assert im.size == (28, 28)


def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(run, files, tmp_path, mnist):
    out = tmp_path / "kept.png"
    out.write_bytes(b"an earlier result")
    before = snapshot(out, run)
    base = ("inpaint", run, "--input", files / "digit.png", "--out", out, "--overwrite")  # bad input writes nothing
    np.save(tmp_path / "small_mask.npy", np.ones((27, 28), bool))
    refused(*base, "--mask", tmp_path / "small_mask.npy", match=r"mask has shape \(27, 28\)")
    refused(*base, "--mask", files / "empty.png", match="nothing to fill")
    refused(*base, match="nothing to fill: pass --mask")
    hole = ("--mask", files / "hole.png", "-o", out, "--overwrite")
    refused("inpaint", run, "-i", files / "big.png", *hole, match="32×32")
    bad = np.zeros((1, 28, 28), np.float32)
    bad[0, 0, 0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    refused("inpaint", run, "-i", tmp_path / "inf.npy", *hole, match="infinite")
    bad[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    refused("denoise", run, "-i", tmp_path / "nan.npy", "-o", out, "--overwrite", match="NaN")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 30, 30), np.float32))
    refused("denoise", run, "-i", tmp_path / "wrong.npy", "-o", out, "--overwrite", match=r"shape \(2, 30, 30\)")
    refused(*base, "--mask", files / "hole.png", "--out", tmp_path / "x.gif", match="expected a file ending")
    refused("denoise", run, "-i", tmp_path / "missing.png", "-o", out, "--overwrite", match="no such file")
    np.save(tmp_path / "empty.npy", np.zeros((0, 28, 28), np.float32))  # a ValueError traceback before
    refused("denoise", run, "-i", tmp_path / "empty.npy", "-o", out, "--overwrite", match="no rows")
    with open(tmp_path / "forged.npy", "wb") as f:  # a header claiming 285 TiB: a MemoryError before
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**13, 28, 28)})
        f.write(b"\0" * 64)
    refused("inpaint", run, "-i", tmp_path / "forged.npy", *hole, match="truncated or damaged")
    refused("denoise", run, "-i", files / "digit.png", "-o", out, match="already exists: .* --overwrite")
    assert snapshot(out, run) == before
    refused("train", "mnist", "--out", tmp_path / "t", "--corrupt", "blur:2", match="gaussian:S .* dropout:P")
    assert not (tmp_path / "t").exists()

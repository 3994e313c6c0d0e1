"""The public Python API: names, and the tour from the README working end to end."""

import numpy as np
import torch

import vaekit


def test_public_names():
    assert sorted(vaekit.__all__) == sorted(
        [
            "PRESETS",
            "VAE",
            "BundleError",
            "DataError",
            "Dataset",
            "ModelConfig",
            "Schema",
            "TrainConfig",
            "TrainingError",
            "VaekitError",
            "__version__",
            "impute_frame",
            "load",
            "load_dataset",
            "train",
        ]
    )
    for name in vaekit.__all__:
        assert hasattr(vaekit, name)


def test_readme_tour(tmp_path, mnist):
    model = vaekit.train("mnist", out=tmp_path / "run", epochs=1, subset=1000, hidden=(64,), latent_dim=4)
    same = vaekit.load(tmp_path / "run")
    x = mnist.splits["test"][:8]
    q = same.encode(x)
    assert q.mean.shape == q.stddev.shape == q.sample().shape == (8, 4)
    assert same.decode(q.mean).mean.shape == (8, 1, 28, 28)
    assert same.sample(16, seed=0).shape == (16, 1, 28, 28)
    assert same.interpolate(x[0], x[1], steps=7).shape == (7, 1, 28, 28)
    torch.testing.assert_close(same.reconstruct(x), model.reconstruct(x))
    same.save(tmp_path / "copy")
    torch.testing.assert_close(vaekit.load(tmp_path / "copy").reconstruct(x), model.reconstruct(x))
    u8 = (mnist.splits["test"][:2, 0].numpy() * 255).round().astype(np.uint8)  # raw (N, 28, 28) uint8 works too
    torch.testing.assert_close(same.encode(u8).mean, same.encode(x[:2]).mean, atol=1e-2, rtol=0)

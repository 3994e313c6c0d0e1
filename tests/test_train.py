"""Training: the loss goes down, seeds reproduce, resume equals an uninterrupted run, the NaN guard works."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

import vaekit.training.loop as loop
from vaekit import load as load_model
from vaekit.data.schema import Dataset, Schema
from vaekit.errors import TrainingError, VaekitError
from vaekit.training import TrainConfig, train
from vaekit.training.prepare import training_tensors

TIMING = {"seconds", "samples_per_s"}
SMALL = {"hidden": (64,), "latent_dim": 4, "subset": 1000, "batch_size": 100, "quiet": None}


def small(**kw):
    args = {**SMALL, **kw}
    args.pop("quiet")
    return args


def metrics(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history]


def read_metrics(run):
    return metrics([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()])


def test_a_few_epochs_lower_the_loss_on_mnist(mnist):
    model = train(mnist, **small(epochs=3, subset=3000))
    h = model.history
    assert len(h) == 3
    assert h[-1]["elbo"] > h[0]["elbo"] + 20  # nats per image
    assert h[-1]["val_elbo"] > h[0]["val_elbo"]
    assert all(r["kl"] > 0 for r in h)


def test_same_seed_same_result_and_other_seed_differs(mnist):
    a = train(mnist, **small(epochs=2, seed=3))
    b = train(mnist, **small(epochs=2, seed=3))
    c = train(mnist, **small(epochs=2, seed=4))
    assert metrics(a.history) == metrics(b.history)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert metrics(a.history) != metrics(c.history)


class StopAt:
    """Interrupts training when epoch ``n`` starts (the previous epoch's checkpoint is on disk)."""

    def __init__(self, n):
        self.n = n

    def on_epoch_start(self, epoch, epochs, batches):
        if epoch == self.n:
            raise KeyboardInterrupt

    def on_batch_end(self, batch, loss): ...
    def on_epoch_end(self, record): ...
    def on_message(self, text): ...


CONV_SMALL = {"preset": "resconv", "hidden": None, "latent_dim": 4, "subset": 200, "batch_size": 50}


@pytest.mark.parametrize(
    "args", [{}, CONV_SMALL, {"lr_schedule": "cosine"}], ids=["mlp", "resconv-channels-last", "cosine-lr"]
)
def test_resume_equals_the_uninterrupted_run(mnist, tmp_path, args):
    full = train(mnist, tmp_path / "full", **small(epochs=3, early_stopping=5, **args))
    if args.get("lr_schedule") == "cosine":  # the learning rate falls epoch after epoch, to near 0 at the end
        lrs = [r["lr"] for r in full.history]
        assert lrs[0] > lrs[1] > lrs[2] and lrs[2] < 0.01 * lrs[0]
    with pytest.raises(KeyboardInterrupt):
        train(mnist, tmp_path / "cut", callbacks=[StopAt(3)], **small(epochs=3, early_stopping=5, **args))
    assert len(read_metrics(tmp_path / "cut")) == 2
    load_model(tmp_path / "cut")  # an interrupted run is a loadable bundle
    resumed = train(mnist, tmp_path / "cut", resume=True)
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "full") == metrics(full.history)
    for name in ("model.safetensors", "training_state/checkpoint.safetensors"):
        a, b = load_file(tmp_path / "full" / name), load_file(tmp_path / "cut" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())


def test_resume_can_extend_training_but_not_change_the_model(mnist, tmp_path):
    three = train(mnist, **small(epochs=3))
    train(mnist, tmp_path / "r", **small(epochs=2))
    extended = train(mnist, tmp_path / "r", resume=True, epochs=3)
    assert metrics(extended.history) == metrics(three.history)
    with pytest.raises(VaekitError, match="different lr"):
        train(mnist, tmp_path / "r", resume=True, epochs=4, lr=0.1)
    with pytest.raises(VaekitError, match="different latent_dim"):
        train(mnist, tmp_path / "r", resume=True, latent_dim=9)
    with pytest.raises(VaekitError, match="already holds a run"):
        train(mnist, tmp_path / "r", **small(epochs=1))


def _cli_train(run, epochs):
    cmd = [
        sys.executable,
        "-m",
        "vaekit",
        "train",
        "mnist",
        "--out",
        str(run),
        "--subset",
        "4000",
        "--hidden",
        "64",
        "--latent-dim",
        "4",
        "--epochs",
        str(epochs),
        "--quiet",
    ]
    return cmd


def test_kill_9_during_training_then_resume(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    subprocess.run(_cli_train(full, 4), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cli_train(cut, 4), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (cut / "metrics.jsonl").exists():
        time.sleep(0.02)
    time.sleep(0.15)  # somewhere inside the next epoch (or while writing its checkpoint)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (cut / "config.json").exists()
    load_model(cut)  # whatever moment it died at, the bundle loads
    done = subprocess.run(_cli_train(cut, 4) + ["--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert read_metrics(cut) == read_metrics(full)


def test_non_finite_loss_rolls_back_and_lowers_the_learning_rate(mnist, monkeypatch):
    calls = {"n": 0}
    real = loop.elbo_loss

    def flaky(*args, **kw):
        out = real(*args, **kw)
        calls["n"] += 1
        if calls["n"] in (3, 5):  # two bad batches in the first epoch
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(loop, "elbo_loss", flaky)
    messages = []

    class Listen(StopAt):
        def on_message(self, text):
            messages.append(text)

    model = train(mnist, callbacks=[Listen(99)], **small(epochs=2, lr=1e-3))
    rollbacks = [m for m in messages if "optimizer steps" not in m]  # not the note that this run is a short one
    assert len(rollbacks) == 2 and "rolled back" in rollbacks[0]
    assert [r["lr"] for r in model.history] == [2.5e-4, 2.5e-4]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_training_gives_up_with_a_clear_message(mnist, monkeypatch):
    real = loop.elbo_loss

    def broken(*args, **kw):
        out = real(*args, **kw)
        out.loss = out.loss * float("inf")
        return out

    monkeypatch.setattr(loop, "elbo_loss", broken)
    with pytest.raises(TrainingError, match="diverged"):
        train(mnist, **small(epochs=1, max_retries=2))


def test_early_stopping_on_validation_elbo(mnist, monkeypatch):
    scores = iter([-100.0, -101.0, -102.0, -90.0, -80.0])
    monkeypatch.setattr(loop, "elbo_stats", lambda *a, **k: {"elbo": next(scores), "reconstruction": 0.0, "kl": 0.0})
    model = train(mnist, **small(epochs=5, early_stopping=2))
    assert len(model.history) == 3  # epochs 2 and 3 were no better than epoch 1


def test_kl_warmup_schedule_reaches_beta(mnist):
    cfg = TrainConfig(beta=0.5, kl_warmup=2)
    assert [cfg.kl_weight(p) for p in (0, 1, 2, 5)] == [0.0, 0.25, 0.5, 0.5]
    model = train(mnist, **small(epochs=3, beta=0.5, kl_warmup=2))
    assert [r["beta"] for r in model.history] == [0.25, 0.5, 0.5]


def test_bad_options_are_refused(mnist):
    with pytest.raises(VaekitError, match="learning rate"):
        train(mnist, **small(lr=-1))
    with pytest.raises(VaekitError, match="validation"):
        train(mnist, **small(val_fraction=0, early_stopping=3))
    with pytest.raises(VaekitError, match="preset"):
        train(mnist, preset="huge")


def test_autoencoder_has_no_kl_and_samples_from_its_codes(mnist):
    model = train(mnist, autoencoder=True, **small(epochs=2))
    assert all(r["kl"] == 0 for r in model.history)
    assert not torch.equal(model.code_std, torch.ones_like(model.code_std))
    assert model.sample(5, seed=0).shape == (5, 1, 28, 28)


def test_static_binarization_is_fixed(mnist):
    a, _ = training_tensors(mnist, 0.1, 0, 500, "static")
    b, _ = training_tensors(mnist, 0.1, 0, 500, "static")
    assert torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 1.0}
    c, _ = training_tensors(mnist, 0.1, 0, 500, "none")
    assert len(c.unique()) > 2


def test_gaussian_table_model_learns_correlated_columns():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 2, generator=g)
    signal = z @ torch.randn(2, 6, generator=g) + 0.05 * torch.randn(2000, 6, generator=g)
    x = signal * torch.tensor([1, 10, 100, 0.1, 1, 5.0]) + 50  # columns on very different scales
    data = Dataset({"all": x}, Schema("table", (6,), columns=tuple("abcdef")))
    model = train(data, latent_dim=2, hidden=(64,), epochs=15, batch_size=64, lr=3e-3)
    assert model.config.likelihood.kind == "gaussian"
    assert model.history[-1]["val_elbo"] > model.history[0]["val_elbo"] + 3
    recon = model.reconstruct(x[:200])
    rel = ((recon - x[:200]).abs().mean(0) / x.std(0)).max()
    assert rel < 0.3  # reconstructions in data units, close relative to each column's spread


def test_gradient_clipping_caps_the_global_norm_only_when_exceeded():
    model = torch.nn.Linear(3, 2)
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    before = [p.grad.clone() for p in model.parameters()]
    norm = loop._clip_gradients(model, 1000.0)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters(), strict=True))
    loop._clip_gradients(model, 1.0)
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert norm > 1.0 and abs(after.item() - 1.0) < 1e-4


def test_a_run_killed_before_its_first_config_can_start_again(mnist, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"partial")
    (run / ".config.json.abc.tmp").write_text("{")
    train(mnist, run, **small(epochs=1))
    assert load_model(run).config.latent_dim == 4


def test_iwae_objective_trains_and_selects_by_the_bound(mnist):
    model = train(mnist, **small(epochs=2, objective="iwae", iw_samples=4))
    h = model.history
    assert all(r["iwae"] >= r["elbo"] - 0.5 for r in h)  # the K-sample bound sits above the ELBO
    assert h[-1]["val_iwae"] > h[0]["val_iwae"] and h[-1]["val_iwae"] > h[-1]["val_elbo"]
    assert model.run_config["training"]["result"]["selected_by"] == "validation IWAE bound (K=4)"
    with pytest.raises(VaekitError, match="autoencoder"):
        train(mnist, autoencoder=True, **small(objective="iwae"))


def test_iwae_loss_with_one_sample_is_the_elbo():
    from vaekit.core.distributions import DiagonalGaussian
    from vaekit.core.likelihoods import Bernoulli
    from vaekit.core.losses import elbo_loss, iwae_loss
    from vaekit.models.module import Latents

    g = torch.Generator().manual_seed(0)
    q = DiagonalGaussian(torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g))
    x = (torch.rand(6, 10, generator=g) < 0.5).float()
    z = q.rsample(torch.Generator().manual_seed(1), (1,))
    logits = torch.randn(6, 10, generator=g)
    lik = Bernoulli(logits)
    log_ratio = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1) - q.log_prob(z)
    iw = iwae_loss(x, Latents(z, log_ratio, q.kl()), Bernoulli(logits[None], event_dims=1))  # over (K=1, N, 10)
    single_sample_elbo = lik.log_prob(x) + (-0.5 * (math.log(2 * math.pi) + z[0] ** 2).sum(-1) - q.log_prob(z[0]))
    torch.testing.assert_close(iw.iwae, single_sample_elbo)
    torch.testing.assert_close(iw.elbo, elbo_loss(x, q, lik).elbo)  # reported ELBO uses the closed-form KL


def test_time_limit_stops_inside_the_epoch_that_reaches_it_and_resume_respects_it(mnist, tmp_path):
    model = train(mnist, tmp_path / "r", **small(epochs=50, time_limit=1e-9, batch_size=8))
    assert len(model.history) == 1  # the first epoch already used up the budget...
    first = model.history[0]
    assert 0 < first["fraction"] < 0.5  # ...after its first batch, not at its end
    assert math.isfinite(first["elbo"]) and first["samples_per_s"] > 0  # means over the samples it saw
    again = train(mnist, tmp_path / "r", resume=True)
    assert len(again.history) == 1
    more = train(mnist, tmp_path / "r", resume=True, time_limit=60.0, epochs=2)  # a larger budget goes on
    assert [r["epoch"] for r in more.history] == [1, 2]

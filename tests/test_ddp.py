"""Data-parallel training: `torchrun --nproc_per_node 2 -m vaekit train ...` (gloo on CPU) matches one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import vaekit

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(), reason="needs gloo"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vaekit_train(cwd: Path, args: list[str], nproc: int) -> subprocess.CompletedProcess:
    launch = [sys.executable, "-m", "vaekit"]
    if nproc > 1:  # what users run: torchrun
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
        launch += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "vaekit"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"  # torchrun's default per process: the single-process run computes alike
    done = subprocess.run(
        [*launch, "train", *args, "--quiet"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _max_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ddp")
    rng = np.random.default_rng(0)
    np.save(folder / "x.npy", rng.normal(size=(64, 8)).astype(np.float32))
    np.save(folder / "b.npy", (rng.random(size=(50, 12)) < 0.4).astype(np.float32))
    return folder


@pytest.fixture(scope="module")
def one_step(data) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """One optimizer step on all 64 rows, by one process and by two."""
    args = ["x.npy", "--epochs", "1", "--batch-size", "64", "--val-fraction", "0"]
    _vaekit_train(data, [*args, "--out", "single"], 1)
    done = _vaekit_train(data, [*args, "--out", "two"], 2)
    return data / "single", data / "two", done


def test_one_step_of_two_processes_equals_one_process(one_step):
    single, two, _ = one_step
    assert _max_difference(single, two) < 1e-5


def test_uneven_batches_iwae_and_validation_match_one_process(data):
    """Several steps, a last batch of 2 rows (one per process), the IWAE objective's K draws, validation."""
    args = ["b.npy", "--epochs", "2", "--batch-size", "16", "--val-fraction", "0.2", "--objective", "iwae"]
    args += ["--iw-samples", "3"]
    _vaekit_train(data, [*args, "--out", "b-single"], 1)
    _vaekit_train(data, [*args, "--out", "b-two"], 2)
    assert _max_difference(data / "b-single", data / "b-two") < 1e-5
    one, two = ((data / run / "metrics.jsonl").read_text().splitlines() for run in ("b-single", "b-two"))
    for a, b in zip(one, two, strict=True):
        ra, rb = json.loads(a), json.loads(b)
        for key in ("elbo", "kl", "iwae", "val_elbo", "val_iwae"):
            assert ra[key] == pytest.approx(rb[key], abs=1e-4)


def test_only_rank_0_writes_and_the_bundle_loads(one_step):
    _, two, done = one_step
    assert done.stdout.count("trained 1 epochs") == 1  # rank 1 prints nothing
    names = {p.name for p in two.iterdir()}
    assert names == {"config.json", "model.safetensors", "metrics.jsonl", "training_state"}  # no lock, no .tmp
    assert len((two / "metrics.jsonl").read_text().splitlines()) == 1
    model = vaekit.VAE.load(two)
    assert model.run_config["training"]["status"] == "finished"
    assert model.sample(4).shape == (4, 8)


def test_resumed_two_process_run_equals_an_uninterrupted_one(data):
    args = ["x.npy", "--batch-size", "16", "--val-fraction", "0.25"]
    _vaekit_train(data, [*args, "--epochs", "2", "--out", "whole"], 2)
    _vaekit_train(data, [*args, "--epochs", "1", "--out", "parts"], 2)
    _vaekit_train(data, ["x.npy", "--epochs", "2", "--out", "parts", "--resume"], 2)
    whole, parts = load_file(data / "whole/model.safetensors"), load_file(data / "parts/model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    assert json.loads((data / "parts/config.json").read_text())["training"]["result"]["epochs_completed"] == 2


def test_the_ranks_agree_to_stop_at_the_time_limit(data):
    """Rank 0's clock decides: a rank stopping alone would leave the other waiting in a collective (a timeout)."""
    args = ["x.npy", "--epochs", "50", "--batch-size", "2", "--val-fraction", "0", "--time-limit", "0.0002"]
    _vaekit_train(data, [*args, "--out", "timed"], 2)
    result = json.loads((data / "timed/config.json").read_text())["training"]["result"]
    assert result["stopped_by"] == "time_limit"
    assert result["epochs_completed"] < 50

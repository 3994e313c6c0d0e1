"""``vaekit report``: one self-contained HTML page per run, for image and table runs, checked in a real browser.

Runs are trained once per module (an MNIST subset with 4 latent dims, an RGB image folder, a 4-column CSV with
2 latent dims) and the reports are only read by the tests.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

import vaekit
from vaekit.cli.app import app
from vaekit.workflows.report import report

IMAGE_SECTIONS = ("Samples", "Reconstructions", "Interpolation", "Latent traversal")
ALL_SECTIONS = ("Metrics", "Training curves", *IMAGE_SECTIONS, "Latent space", "KL per latent dimension")
EVAL = {  # what `vaekit evaluate --iw-samples 50` writes, with known values
    "data": "mnist",
    "split": "test",
    "n": 10000,
    "elbo": -123.456,
    "reconstruction": -100.0012,
    "kl": 23.4548,
    "bits_per_dim": 0.22717,
    "elbo_seconds": 0.5,
    "seed": 0,
    "iw_samples": 50,
    "iwae": -119.8712,
    "nll": 119.8712,
    "iwae_seconds": 3.25,
    "precision": "auto",
    "kl_per_dim": [10.0, 8.0, 5.4548, 0.0],
    "posterior_mean_variance": [1.0, 0.5, 0.2, 0.001],
    "active_units": 3,
}
DATA_URI = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


# -- runs and reports, built once ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mnist") / "RUN"
    vaekit.train("mnist", out=run, epochs=2, subset=600, hidden=(64,), latent_dim=4)
    (run / "eval.json").write_text(json.dumps(EVAL))
    return run


@pytest.fixture(scope="module")
def mnist_report(mnist_run) -> Path:
    return report(mnist_run)


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    columns = {"small": (0, 1), "medium": (50, 10), "large": (1000, 200), "negative": (-20, 3)}
    frame = pd.DataFrame({c: rng.normal(m, s, 200) for c, (m, s) in columns.items()})
    path = tmp_path_factory.mktemp("table") / "data.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def table_run(tmp_path_factory, table_csv) -> Path:
    run = tmp_path_factory.mktemp("tablerun") / "RUN"
    vaekit.train(str(table_csv), out=run, epochs=3, hidden=(32,), latent_dim=2, batch_size=32)
    return run


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory) -> Path:
    folder, rng = tmp_path_factory.mktemp("rgb") / "images", np.random.default_rng(0)
    for k, name in enumerate(("cats", "dogs")):
        (folder / name).mkdir(parents=True)
        for i in range(12):
            arr = rng.integers(150 * (1 - k), 256 - 150 * k, (16, 16, 3)).astype(np.uint8)
            Image.fromarray(arr, mode="RGB").save(folder / name / f"{i}.png")
    run = tmp_path_factory.mktemp("rgbrun") / "RUN"
    vaekit.train(str(folder), out=run, preset="conv", epochs=1, latent_dim=3)
    return run


def pngs(page: str) -> list[Image.Image]:
    """Every embedded image, decoded (and verified) with Pillow."""
    images = []
    for data in DATA_URI.findall(page):
        raw = base64.b64decode(data, validate=True)
        Image.open(io.BytesIO(raw)).verify()
        with Image.open(io.BytesIO(raw)) as im:
            assert im.format == "PNG"
            im.load()
            images.append(im.copy())
    return images


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert 'src="http' not in page and "url(" not in page and "@import" not in page
    assert not re.search(r"https?://", page), "the page must not reference anything on the network"
    imgs = re.findall(r"<img [^>]*>", page)
    assert imgs and all('src="data:image/png;base64,' in tag for tag in imgs)
    assert len(DATA_URI.findall(page)) == len(imgs)


def headings(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


# -- image runs --------------------------------------------------------------------------------------------------
def test_mnist_report_is_one_self_contained_page(mnist_run, mnist_report):
    assert mnist_report == mnist_run / "report.html"
    page = mnist_report.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert headings(page) == list(ALL_SECTIONS)
    assert not list(mnist_run.glob(".report.html.*")), "no temporary file left behind"
    images = pngs(page)
    assert len(images) == 7  # curves, 4 grids, latent map, KL bars
    for im in images:
        assert 150 <= im.width <= 2000 and 60 <= im.height <= 2000, im.size
    samples = images[1]  # 8 × 8 tiles of 28 px (+2 px borders), enlarged 3× so digits are readable
    assert samples.size == ((8 * 30 + 2) * 3,) * 2 and samples.mode == "L"
    assert images[4].size == ((9 * 30 + 2) * 3, (4 * 30 + 2) * 3)  # traversal: 4 latent dims × 9 steps


def test_mnist_report_shows_eval_json_and_training_numbers(mnist_run, mnist_report):
    page = mnist_report.read_text(encoding="utf-8")
    for text in ("-123.46", "-100.00", "23.45", "0.2272", "-119.87", "119.87", "10,000", "3 of 4"):
        assert f"<b>{text}" in page, text
    for label in ("ELBO", "Reconstruction log-likelihood", "IWAE bound", "Negative log-likelihood", "Bits per dim"):
        assert label in page
    assert "nats" in page and "seconds" not in page.lower()  # timings are bookkeeping, not metrics
    assert "test split" in page
    assert "3 of 4 active" in page and "Total 23.45 nats" in page  # KL bars from eval.json's kl_per_dim
    last = [json.loads(line) for line in (mnist_run / "metrics.jsonl").read_text().splitlines()][-1]
    for key in ("elbo", "reconstruction", "kl", "val_elbo", "val_kl"):
        assert f"{last[key]:,.2f}" in page, key
    result = json.loads((mnist_run / "config.json").read_text())["training"]["result"]
    assert f"best epoch <b>{result['best_epoch']}</b>" in page and "ran all epochs" in page
    header = page[page.index("<header>") : page.index("</header>")]
    for text in ("RUN", "mnist", "test", "MLP 64", "4", "bernoulli"):
        assert text in header, text


def test_rgb_folder_report(rgb_run):
    out = report(rgb_run, out=rgb_run.parent / "rgb.html")
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert headings(page) == list(ALL_SECTIONS)
    images = pngs(page)
    assert [im.mode for im in images[1:5]] == ["RGB"] * 4
    assert images[1].width == (8 * 18 + 2) * 4  # 16 px tiles enlarged 4×
    assert "conv preset · conv 32 ch, fc 256" in page and re.search(r"<b>\d of 3 active</b>", page)
    assert not (rgb_run / "eval.json").exists(), "the report evaluates without writing eval.json"


# -- table runs --------------------------------------------------------------------------------------------------
def test_table_report_has_tables_instead_of_images(table_run, table_csv):
    out = report(table_run)
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    assert headings(page) == [
        "Metrics",
        "Training curves",
        "Samples",
        "Reconstructions",
        "Latent space",
        "KL per latent dimension",
    ]
    assert len(pngs(page)) == 3  # curves, latent map, KL bars: no image grids
    for column in ("small", "medium", "large", "negative"):
        assert f"<th>{column}</th>" in page
    first = pd.read_csv(table_csv).iloc[0]  # originals in data units: 4 significant digits at each column's scale
    assert f"<td>{first['large']:,.0f}</td>" in page and f"<td>{first['medium']:,.2f}</td>" in page
    assert page.count("reconstruction</td>") == 6
    assert "shown by the latent dimensions directly" in page  # D = 2: no PCA
    assert "<b>-" in page and "val split" in page  # evaluated on the run's validation part
    assert not (table_run / "eval.json").exists()


# -- command line ------------------------------------------------------------------------------------------------
def test_cli_report(table_run, tmp_path):
    out = tmp_path / "custom.html"
    result = CliRunner().invoke(app, ["report", str(table_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}"
    assert out.is_file() and "Latent space" in out.read_text(encoding="utf-8")


def test_cli_refuses_a_non_html_out(table_run, tmp_path):
    result = CliRunner().invoke(app, ["report", str(table_run), "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 2
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and ".html" in lines[0], lines
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.txt").exists()


# -- in a real browser -------------------------------------------------------------------------------------------
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must have it (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed")
    return exe


def test_report_renders_in_headless_chromium(mnist_report, tmp_path):
    shot = tmp_path / "report.png"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400", f"--screenshot={shot}",
           mnist_report.resolve().as_uri()]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert shot.is_file(), f"no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}"
    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 24)
    assert colours is not None and len(colours) > 50, "the page looks blank"
    assert ImageStat.Stat(rgb.convert("L")).stddev[0] > 20
    dark = sum(n for n, c in colours if max(c) < 60)  # the MNIST tiles (black background) were painted
    assert dark > 20_000

"""The latent explorer in a browser: how long a slider drag takes to redraw the decoded image, and the README's
screenshot of the page.

    python benchmarks/explorer_latency.py [--run runs/demo] [--updates 200] [--out benchmarks/results]
                                          [--screenshot docs/images/explorer.png]

Starts ``vaekit serve RUN`` (one uvicorn process) and drives the page with Playwright in headless Chromium
(Debian's ``/usr/bin/chromium``). Each update sets one slider and waits until the new image has been decoded by
the browser (``img.decode()``): the time from the input event to that point is what a user sees, request,
decoding on the server, PNG and drawing included. Updates are sequential (one drag at a time), over the sliders
in turn. Then it drops two MNIST test images, interpolates between them, samples 8 images and takes the
screenshot. Writes explorer_latency.json and a histogram explorer_latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip

# one update: set the slider, wait for the page to show the decoded image, return the milliseconds it took
UPDATE = """async ([i, v]) => {
  const img = document.getElementById('decoded'), before = img.dataset.updates;
  const s = document.querySelector(`#sliders input[data-i='${i}']`);
  const t0 = performance.now();
  s.value = v; s.dispatchEvent(new Event('input'));
  while (img.dataset.updates === before) await new Promise((r) => setTimeout(r, 0));
  await img.decode();
  return performance.now() - t0;
}"""


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str, port: int) -> subprocess.Popen:
    vaekit = Path(sys.executable).with_name("vaekit")
    server = subprocess.Popen([str(vaekit), "serve", run, "--port", str(port)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("vaekit serve did not start")


def mnist_pngs(folder: Path, indices: tuple[int, ...]) -> list[Path]:
    from vaekit.data.mnist import mnist_arrays

    images, _ = mnist_arrays()["test"]
    paths = []
    for i in indices:
        paths.append(folder / f"mnist_test_{i}.png")
        Image.fromarray(images[i]).save(paths[-1])
    return paths


def measure(page, dims: list[int], updates: int) -> list[float]:
    rng = np.random.default_rng(0)
    times = []
    for k in range(updates):
        value = round(float(rng.uniform(-2.5, 2.5)), 2)
        times.append(page.evaluate(UPDATE, [dims[k % len(dims)], value]))
    return times


def screenshot(page, pngs: list[Path], out: Path) -> None:
    page.click("#zero")
    for png in pngs:  # the page interpolates between the last two
        page.evaluate("document.getElementById('score').textContent = ''")
        page.set_input_files("#file", str(png))
        page.wait_for_function("document.getElementById('score').textContent.includes('score')")
    page.click("#interpolate")
    page.wait_for_function("document.querySelectorAll('#path img').length === 8")
    page.fill("#temperature", "0.8")
    page.click("#sample-images")
    page.wait_for_function("document.querySelectorAll('#samples img').length === 8")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="runs/demo")
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--screenshot", type=Path, default=Path("docs/images/explorer.png"))
    args = ap.parse_args()
    port = free_port()
    load = os.getloadavg()[0]
    server = start_server(args.run, port)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('decoded').src.startsWith('data:image/png')")
            dims = page.eval_on_selector_all("#sliders input", "es => es.map(e => +e.dataset.i)")
            measure(page, dims, 10)  # warm-up
            times = measure(page, dims, args.updates)
            screenshot(page, mnist_pngs(Path(tmp), (3, 2)), args.screenshot)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    report(args, times, load)


def report(args, times: list[float], load: float) -> None:
    t = np.asarray(times)
    result = {
        "command": "python benchmarks/explorer_latency.py " + " ".join(sys.argv[1:]),
        "run": args.run,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1min_before": load,
        "updates": len(times),
        "ms_p50": float(np.percentile(t, 50)),
        "ms_p90": float(np.percentile(t, 90)),
        "ms_p99": float(np.percentile(t, 99)),
        "ms_max": float(t.max()),
        "target_ms": 100,
        "screenshot": str(args.screenshot),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "explorer_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(t, bins=40, color="#4477aa")
    ax.axvline(100, color="#cc3311", linestyle="--", label="target 100 ms")
    ax.set_xlabel("slider drag → decoded image shown (ms)")
    ax.set_ylabel("updates")
    ax.set_title(f"explorer on {Path(args.run).name}: p50 {result['ms_p50']:.1f} ms, p99 {result['ms_p99']:.1f} ms")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "explorer_latency.png", dpi=120)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

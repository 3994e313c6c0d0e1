"""The latent explorer page in a real browser: Playwright drives Debian's headless Chromium against ``vaekit serve``
on a free local port. The page loads and lists the models, a slider redraws the decoded image, a dropped image is
encoded (the sliders move), reconstructed and scored, two drops interpolate, samples follow the temperature, a
conditional model gets its controls, the table form imputes, a SMILES box shows its reconstruction and neighbours,
and every error shows as a message on the page."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_report import chromium  # Debian's chromium: skipped without it, a failure in CI

import vaekit

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from vaekit.server import create_app  # noqa: E402

# as the machine's notes advise: no background networking (the sandbox refuses it), a fresh profile each launch
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer")
    rng = np.random.default_rng(0)
    images = (rng.random((300, 8, 8)) < np.linspace(0.1, 0.9, 64).reshape(8, 8)).astype(np.float32)
    labels = (images.sum((1, 2)) > np.median(images.sum((1, 2)))).astype(int)
    vaekit.train(images, root / "digits", epochs=2, hidden=(32,), latent_dim=3, seed=0, progress=False)
    vaekit.train(
        images, root / "cond", labels=labels, condition="label", epochs=2, hidden=(32,), latent_dim=3, seed=0,
        progress=False,
    )  # fmt: skip
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(5, 2, 200), "c": rng.choice(["x", "y"], 200)})
    vaekit.train(frame, root / "tab", epochs=2, hidden=(16,), latent_dim=2, seed=0, progress=False)
    from vaekit.molecules import load_moses

    smi = root / "small.smi"
    smi.write_text("\n".join(load_moses("train", subset=300, seed=1).smiles) + "\n")
    vaekit.train(str(smi), out=root / "mol", epochs=1, preset="sequence", hidden=(32, 64), latent_dim=8, progress=False)
    for i in (0, 1):
        Image.fromarray((images[i] * 255).astype(np.uint8)).resize((32, 32)).save(root / f"digit{i}.png")
    (root / "notes.txt").write_text("not an image")
    return root


def serve(app) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def urls(runs):
    names = {name: runs / name for name in ("digits", "cond", "tab", "mol")}
    open_url, open_server, t1 = serve(create_app(names))
    keyed_url, keyed_server, t2 = serve(create_app({"digits": runs / "digits"}, api_key="s3cret"))
    yield open_url, keyed_url
    open_server.should_exit = keyed_server.should_exit = True
    t1.join(10)
    t2.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, urls):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(urls[0])
    page.wait_for_function("document.getElementById('decoded').src.startsWith('data:image/png')")
    yield page
    context.close()
    assert not errors, errors  # no uncaught script error on the page


def src(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => e.src")


def drag(page, dim: int, value: float) -> None:
    page.eval_on_selector(
        f"#sliders input[data-i='{dim}']", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", value
    )


def test_the_page_lists_the_models_and_a_slider_redraws_the_image(page):
    names = page.eval_on_selector_all("#model option", "os => os.map(o => o.textContent)")
    assert names == ["digits", "cond", "tab", "mol"]
    assert page.locator("#sliders input").count() == 3
    before = src(page, "#decoded")
    drag(page, 0, 2.5)
    page.wait_for_function("s => document.getElementById('decoded').src !== s", arg=before)
    assert page.text_content("#sliders label:first-child span") == "2.50"
    assert page.text_content("#timing").endswith(" ms")
    assert page.text_content("#message") == ""


def test_a_dropped_image_is_encoded_reconstructed_scored_and_two_interpolate(page, runs):
    page.set_input_files("#file", str(runs / "digit0.png"))
    page.wait_for_function("document.getElementById('recon').src.startsWith('data:image/png')")
    page.wait_for_function("document.getElementById('score').textContent.includes('score')")
    assert "relative score" in page.text_content("#score") and "not calibrated" in page.text_content("#score")
    moved = page.eval_on_selector_all("#sliders input", "es => es.map(e => +e.value)")
    assert any(v != 0 for v in moved)  # the sliders jumped to the image's code
    assert page.is_disabled("#interpolate")
    page.set_input_files("#file", str(runs / "digit1.png"))
    page.wait_for_function("!document.getElementById('interpolate').disabled")
    page.click("#interpolate")
    page.wait_for_function("document.querySelectorAll('#path img').length === 8")


def test_samples_and_conditional_controls(page, runs):
    page.click("#sample-images")
    page.wait_for_function("document.querySelectorAll('#samples img').length === 8")
    page.select_option("#model", "cond")
    page.wait_for_selector("#conditions select[data-c='label']")
    assert page.eval_on_selector_all("#conditions option", "os => os.map(o => o.textContent)") == ["0", "1"]
    page.wait_for_function("document.getElementById('decoded').src.startsWith('data:image/png')")
    before = src(page, "#decoded")
    page.select_option("#conditions select", "1")
    page.wait_for_function("s => document.getElementById('decoded').src !== s", arg=before)
    page.set_input_files("#file", str(runs / "digit0.png"))  # encoded and reconstructed with the chosen label
    page.wait_for_function("document.getElementById('recon').src.startsWith('data:image/png')")
    assert "without a condition" in page.text_content("#score")
    assert page.text_content("#message") == ""


def test_the_table_form_imputes_the_empty_cells(page):
    page.select_option("#model", "tab")
    page.wait_for_selector("#form input[data-c='a']")
    page.fill("#form input[data-c='a']", "0.5")
    page.click("#impute")
    page.wait_for_function("document.querySelector(\"#form input[data-c='b']\").value !== ''")
    assert page.input_value("#form input[data-c='a']") == "0.5"
    assert page.input_value("#form input[data-c='c']") in ("x", "y")


def test_errors_show_as_messages(page, browser, runs, urls):
    page.set_input_files("#file", str(runs / "notes.txt"))
    page.wait_for_function("document.getElementById('message').textContent !== ''")
    assert "base64 PNG" in page.text_content("#message")
    context = browser.new_context()  # the server with a key: the page asks for it
    keyed = context.new_page()
    keyed.goto(urls[1])
    keyed.wait_for_function("document.getElementById('message').textContent !== ''")
    assert "missing or wrong API key" in keyed.text_content("#message")
    keyed.fill("#key", "s3cret")
    keyed.dispatch_event("#key", "change")
    keyed.wait_for_function("document.getElementById('decoded').src.startsWith('data:image/png')")
    assert keyed.text_content("#message") == ""
    context.close()


def test_a_smiles_box_shows_its_reconstruction_and_neighbours(page):
    page.select_option("#model", "mol")
    page.fill("#smiles", "CCOc1ccccc1")
    page.click("#neighbours-go")
    page.wait_for_function("document.querySelectorAll('#neighbours figure').length === 8")
    captions = page.eval_on_selector_all("#molecule figcaption", "fs => fs.map(f => f.textContent)")
    assert captions[0] == "input CCOc1ccccc1" and captions[1].startswith("reconstruction ")
    assert page.locator("#molecule img").count() == 2  # the input's drawing and, when valid, its reconstruction's
    page.click("#sample-molecules")
    page.wait_for_function("document.querySelectorAll('#molecule figure').length === 0")
    assert page.locator("#neighbours figure").count() == 8
    page.fill("#smiles", "C1CC")
    page.click("#neighbours-go")
    page.wait_for_function("document.getElementById('message').textContent !== ''")
    assert "'C1CC' is not a valid SMILES" in page.text_content("#message")

"""Serving under load: many clients against one ``vaekit serve`` process, and the same endpoints over ONNX Runtime.

    python benchmarks/serve_load.py [--run runs/demo] [--clients 64] [--seconds 30] [--warmup 3] [--threads 1]
                                    [--client auto|wrk|python] [--out benchmarks/results]
    python benchmarks/serve_load.py --serve-onnx DIR [--name demo] [--port 8000] [--threads 1]  # the ONNX app alone

Two endpoints, measured one after the other, each for ``--seconds`` after ``--warmup`` seconds of the same load
(not counted): ``POST /models/NAME/sample`` with ``{"n": 1, "seed": i}`` (i counts up, one seed per request) and
``POST /models/NAME/encode`` with one 28×28 MNIST test image. Per endpoint: requests/s, p50/p90/p99 latency,
errors (non-2xx answers and connection errors, timeouts included: 30 s), the server's CPU use and its resident
memory (VmRSS from /proc, read every second of the measured window: start, end, max).

Backends, one at a time, each one uvicorn process bound to 127.0.0.1 on a free port, waited for via GET /health:

* ``torch``: ``vaekit --threads T serve RUN`` as shipped (FastAPI's thread pool; torch on T intra-op threads).
* ``onnxruntime``: a minimal FastAPI app in this file over ``vaekit export RUN --format onnx`` — numpy, Pillow and
  ONNX Runtime (T intra-op threads), torch never imported in that process — with the same JSON in and out and
  under the same uvicorn settings. sample decodes z ~ N(0, I) drawn from numpy's generator seeded with ``seed``
  (vaekit draws z with torch's generator: the same distribution, other numbers; a run with a fitted code prior is
  flagged in the notes, not replicated) and returns sigmoid(decoder logits) as base64 PNGs, rounded to 8 bits as
  vaekit does; encode returns the encoder's mean and logvar. Before its load, the ONNX app's answers are checked
  against the torch server's (encode on the same image; sample seed 0 against vaekit's /decode of the same z).
  Unlike vaekit serve, the app has no middleware (vaekit's deadline, body-size and API-key checks: one pure ASGI
  layer, ``vaekit.server.Guard``): the gap between the backends is runtime plus that. Measured once (64 clients,
  10 s), with those checks as two FastAPI ``@app.middleware("http")`` layers, as first written, vaekit's app
  served sample at 360 req/s and encode at 390, and without them 608 and 555; the pure ASGI layer replaced them.

Threads: T = 1 (``--threads``) for both. With n = 1 no operator is worth splitting across cores (the largest is a
784×400 matmul), and 64 clients keep FastAPI's 40 pool threads busy: concurrency comes from the requests, and more
intra-op threads only oversubscribe the cores. Measured on the 2-core AMD EPYC this was written on (64 clients,
10 s per endpoint, wrk): torch with its default of 2 threads served sample at 384 req/s and encode at 346, with 1
thread 431 and 411; ONNX Runtime with 2 threads 976 and 1,176 on 1.7-1.8 cores (its pool spins), with 1 thread
1,110 and 1,250 on 1.1. Repeated runs on the quiet machine moved by 5-20 %, so read these as "no gain from a
second thread", not as a loss.

Load generator: ``wrk`` (Debian: ``apt-get install wrk``), one thread and ``--clients`` connections, its Lua
script counting seeds up and printing the percentiles as JSON — the default (``auto``) when wrk is installed, else
a Python asyncio client (httpx2, bodies serialized once) in its own process (``--client python``). Measured in the
same setting: wrk spent 0.03-0.05 s of CPU per 1,000 requests (0.02-0.05 of a core), the Python client 0.7-1.0 s
(0.4-0.75 of a core), which the server then lacks: torch sample 431 req/s under wrk, 381 under the Python client;
ONNX Runtime sample 1,110 vs 896. Both clients are closed loop (a connection sends its next request when the last
answer has come back), so with 64 clients p50 is mostly queueing: about 64 / throughput.

Writes serve_load.json (all numbers, the CPU, the 1-minute load average at start and end, settings, the command)
and serve_load.png (throughput, p50 and p99 per endpoint and backend). Timings on a busy machine mean little: the
load average is printed first, with a warning above a quarter of the cores, and each window records the CPU that
other processes took (machine-wide busy time from /proc/stat less the server's and the client's); a window where
they took over a tenth of the cores is flagged in the notes. A benchmark, not a test: ``make bench`` runs it, CI
never does.
"""

import argparse
import asyncio
import base64
import importlib.metadata
import importlib.util
import io
import itertools
import json
import os
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ENDPOINTS = ("sample", "encode")
BACKENDS = ("torch", "onnxruntime")
MAX_SAMPLES = 256  # per request, as vaekit serve
REQUEST_TIMEOUT_S = 30
HEALTH_TIMEOUT_S = 180
WRK_LUA = """
local seeded = __SEEDED__
local path = "__PATH__"
local headers = {["Content-Type"] = "application/json"}
local fixed = [==[__BODY__]==]
local counter = 0
local threads = 0

setup = function(thread)  -- each wrk thread counts its own seeds, 1e9 apart
  thread:set("offset", threads * 1000000000)
  threads = threads + 1
end

init = function(args)
  counter = offset or 0
end

request = function()
  if seeded then
    counter = counter + 1
    return wrk.format("POST", path, headers, string.format('{"n": 1, "seed": %d}', counter))
  end
  return wrk.format("POST", path, headers, fixed)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


# ---------------------------------------------------------------------------------------------- the machine


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"cpu": model, "cores": os.cpu_count(), "load_average_1min_start": os.getloadavg()[0], "uptime": uptime}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in ("vaekit", "torch", "onnxruntime", "fastapi", "uvicorn", "httpx2", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["vaekit_commit"] = source_commit()
    wrk = shutil.which("wrk")
    out["wrk"] = (
        subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split(" [")[0] if wrk else None
    )
    return out


def source_commit() -> str | None:
    """The checkout's commit, with ``+changes in src`` when src/ differs from it (the server code measured)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode:
        return None
    return head.stdout.strip() + (" +changes in src" if changed.stdout.strip() else "")


# ------------------------------------------------------------------------------------------- the ONNX app


def onnx_app(folder: Path, name: str, threads: int):
    """FastAPI app serving sample and encode of the exported run in ``folder`` with ONNX Runtime (no torch)."""
    import onnxruntime as ort
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel, Field

    manifest = json.loads((folder / "onnx.json").read_text())
    shape, latent_dim = tuple(manifest["input_shape"]), manifest["latent_dim"]
    if manifest["kind"] != "image" or manifest["likelihood"] != "bernoulli":
        raise SystemExit(f"the ONNX app serves Bernoulli image models; {folder} holds a {manifest['kind']} model")
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    encoder, decoder = (
        ort.InferenceSession(str(folder / f"{part}.onnx"), options, providers=["CPUExecutionProvider"])
        for part in ("encoder", "decoder")
    )

    class SampleRequest(BaseModel):
        n: int = Field(8, ge=1)
        seed: int | None = None
        mean: bool | None = None

    class InputsRequest(BaseModel):
        inputs: list[Any] = Field(..., min_length=1)

    app = FastAPI(title="vaekit ONNX Runtime benchmark app")

    def check(model: str) -> None:
        if model != name:
            raise HTTPException(404, f"no model '{model}': the server has {name}")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": 1, "torch_imported": "torch" in sys.modules}

    @app.post("/models/{model}/sample")
    def sample(model: str, body: SampleRequest) -> dict[str, Any]:
        check(model)
        if body.n > MAX_SAMPLES:
            raise HTTPException(422, f"n = {body.n}: at most {MAX_SAMPLES} samples per request")
        rng = np.random.default_rng(body.seed)
        z = rng.standard_normal((body.n, latent_dim), dtype=np.float32)
        p = 1.0 / (1.0 + np.exp(-decoder.run(None, {"z": z})[0]))  # Bernoulli logits -> probabilities
        x = p if body.mean is None or body.mean else (rng.random(p.shape) < p).astype(np.float32)
        return {"images": [png(image) for image in x]}

    @app.post("/models/{model}/encode")
    def encode(model: str, body: InputsRequest) -> dict[str, Any]:
        check(model)
        try:
            x = np.asarray(body.inputs, dtype=np.float32).reshape(len(body.inputs), *shape)
        except (TypeError, ValueError):
            raise HTTPException(422, f"inputs must be images of shape {shape}: nested lists of numbers") from None
        mean, logvar = encoder.run(None, {"x": x})
        return {"mean": mean.tolist(), "logvar": logvar.tolist()}

    return app


def png(image: np.ndarray) -> str:
    """An image (C, H, W) in [0, 1] as base64 PNG, 8 bits rounded as vaekit serve writes it."""
    from PIL import Image

    array = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def serve_onnx(folder: Path, name: str, port: int, threads: int) -> None:
    import uvicorn

    uvicorn.run(onnx_app(folder, name, threads), host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------------------------- servers and probes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as r:
        return json.loads(r.read())


class Server:
    """One server process, its log, and its URL once GET /health answers."""

    def __init__(self, command: list[str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [*command, "--port", str(self.port)]
        self.log = log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        with self.log.open("w") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    self.health = json.loads(r.read())
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        self.__exit__()
        raise SystemExit(f"the server did not answer /health within {HEALTH_TIMEOUT_S} s: {shlex.join(self.command)}")

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ProcessSampler:
    """A process's resident memory (VmRSS, MB) every second in a thread, and its CPU seconds over the window."""

    def __init__(self, pid: int, every: float = 1.0):
        self.pid, self.every = pid, every
        self.rss: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.rss.append(self.rss_mb())

    @staticmethod
    def machine_busy_s() -> float:
        """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> "ProcessSampler":
        self.rss.append(self.rss_mb())
        self._cpu0, self._busy0, self._t0 = self.cpu_s(), self.machine_busy_s(), time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.rss.append(self.rss_mb())
        self.cpu_seconds = self.cpu_s() - self._cpu0
        self.machine_busy_seconds = self.machine_busy_s() - self._busy0
        self.wall_seconds = time.perf_counter() - self._t0

    def summary(self) -> dict[str, Any]:
        return {
            "rss_mb_start": round(self.rss[0], 1),
            "rss_mb_end": round(self.rss[-1], 1),
            "rss_mb_max": round(max(self.rss), 1),
            "rss_mb_every_s": [round(v, 1) for v in self.rss],
            "server_cpu_cores": round(self.cpu_seconds / self.wall_seconds, 2),
        }


# ------------------------------------------------------------------------------------------------ clients


def request_body(endpoint: str, image: list[list[float]]) -> dict[str, Any]:
    return {"n": 1, "seed": 0} if endpoint == "sample" else {"inputs": [image]}


def run_wrk(url: str, path: str, body: dict[str, Any], clients: int, seconds: int, tmp: Path) -> dict[str, Any]:
    script = tmp / "load.lua"
    lua = WRK_LUA.replace("__SEEDED__", "true" if "seed" in body else "false").replace("__PATH__", path)
    script.write_text(lua.replace("__BODY__", json.dumps(body)))
    command = ["wrk", "-t", "1", "-c", str(clients), "-d", f"{seconds}s", "--timeout", f"{REQUEST_TIMEOUT_S}s"]
    out = subprocess.run([*command, "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    r = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON "))[len("WRKJSON ") :])
    errors = {k: r[k] for k in ("status", "connect", "read", "write", "timeout")}
    return load_numbers(r["requests"], r["duration_us"] / 1e6, [r[f"p{q}_us"] / 1e3 for q in (50, 90, 99)], errors)


def run_python_client(url: str, path: str, body: dict[str, Any], clients: int, seconds: int, tmp: Path) -> dict:
    """The asyncio client, in its own process (``--load-url``)."""
    body_file = tmp / "body.json"
    body_file.write_text(json.dumps(body))
    command = [sys.executable, __file__, "--load-url", url + path, "--load-body", str(body_file)]
    command += ["--clients", str(clients), "--seconds", str(seconds)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


async def python_load(url: str, body: dict[str, Any], clients: int, seconds: float) -> dict[str, Any]:
    import httpx2

    seeded, fixed = "seed" in body, json.dumps(body).encode()
    seeds, latencies = itertools.count(1), []
    errors = {"status": 0, "connection": 0}
    headers = {"Content-Type": "application/json"}
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def connection() -> None:
            while time.perf_counter() < deadline:
                content = b'{"n": 1, "seed": %d}' % next(seeds) if seeded else fixed
                sent = time.perf_counter()
                try:
                    r = await client.post(url, content=content, headers=headers)
                except httpx2.HTTPError:
                    errors["connection"] += 1
                    continue
                latencies.append((time.perf_counter() - sent) * 1e3)
                errors["status"] += not r.is_success

        await asyncio.gather(*(connection() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return load_numbers(len(latencies), elapsed, list(np.percentile(latencies or [np.nan], [50, 90, 99])), errors)


def load_numbers(requests: int, seconds: float, p50_90_99_ms: list[float], errors: dict[str, int]) -> dict:
    p50, p90, p99 = (round(float(v), 2) for v in p50_90_99_ms)
    return {
        "requests": requests,
        "seconds": round(seconds, 2),
        "requests_per_s": round(requests / seconds, 1),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
    }


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------- measuring


def measure(server: Server, model: str, endpoint: str, body: dict[str, Any], args: argparse.Namespace) -> dict:
    """``--warmup`` seconds of load (not counted), then ``--seconds`` measured with the server sampled."""
    client = run_wrk if args.client == "wrk" else run_python_client
    path = f"/models/{model}/{endpoint}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.warmup:
            client(server.url, path, body, args.clients, args.warmup, Path(tmp))
        cpu0 = children_cpu_s()
        with ProcessSampler(server.process.pid) as sampler:
            numbers = client(server.url, path, body, args.clients, args.seconds, Path(tmp))
        client_cpu = children_cpu_s() - cpu0
    numbers.update(sampler.summary())
    numbers["client_cpu_s_per_1000_requests"] = round(1000 * client_cpu / max(numbers["requests"], 1), 3)
    numbers["client_cpu_cores"] = round(client_cpu / sampler.wall_seconds, 2)
    others = (sampler.machine_busy_seconds - sampler.cpu_seconds - client_cpu) / sampler.wall_seconds
    numbers["other_processes_cpu_cores"] = round(max(others, 0.0), 2)  # the benchmark's own threads included
    print(
        f"  {endpoint:7s} {numbers['requests_per_s']:8.1f} req/s  p50 {numbers['p50_ms']:7.1f}  "
        f"p90 {numbers['p90_ms']:7.1f}  p99 {numbers['p99_ms']:7.1f} ms  errors {numbers['errors']}  "
        f"RSS {numbers['rss_mb_start']:.0f} → {numbers['rss_mb_end']:.0f} MB (max {numbers['rss_mb_max']:.0f})  "
        f"CPU cores: server {numbers['server_cpu_cores']:.2f}, client {numbers['client_cpu_cores']:.2f}, "
        f"others {numbers['other_processes_cpu_cores']:.2f}",
        flush=True,
    )
    return numbers


def run_backend(server: Server, model: str, image: list[list[float]], args: argparse.Namespace) -> dict:
    out: dict[str, Any] = {"idle_rss_mb": round(ProcessSampler(server.process.pid).rss_mb(), 1)}
    for endpoint in ENDPOINTS:
        out[endpoint] = measure(server, model, endpoint, request_body(endpoint, image), args)
    out["rss_mb_after"] = round(ProcessSampler(server.process.pid).rss_mb(), 1)
    return out


def reference_answers(url: str, model: str, image: list[list[float]], latent_dim: int) -> dict[str, Any]:
    """What vaekit serve answers for the image and for seed 0's z as the ONNX app draws it."""
    z = np.random.default_rng(0).standard_normal((1, latent_dim), dtype=np.float32)
    return {
        "encode": post(f"{url}/models/{model}/encode", {"inputs": [image]}),
        "decode": post(f"{url}/models/{model}/decode", {"z": z.tolist()})["images"][0],
    }


def compare(url: str, model: str, image: list[list[float]], reference: dict[str, Any]) -> dict[str, Any]:
    """The ONNX app's answers against the torch server's: encode numbers, and the PNG of sample seed 0."""
    from PIL import Image

    got = post(f"{url}/models/{model}/encode", {"inputs": [image]})
    diff = max(float(np.abs(np.subtract(got[k], reference["encode"][k])).max()) for k in ("mean", "logvar"))
    pixels = [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(s))), dtype=np.int16)
        for s in (post(f"{url}/models/{model}/sample", {"n": 1, "seed": 0})["images"][0], reference["decode"])
    ]
    return {
        "encode_max_abs_diff": diff,
        "sample_seed0_vs_vaekit_decode_max_pixel_diff": int(np.abs(pixels[0] - pixels[1]).max()),
        "sample_seed0_vs_vaekit_decode_pixels_differing": int((pixels[0] != pixels[1]).sum()),
    }


def mnist_image() -> list[list[float]]:
    """The first MNIST test image, (28, 28) in [0, 1]."""
    import vaekit

    return np.asarray(vaekit.load_dataset("mnist").splits["test"][0][0], dtype=np.float32).tolist()


def export_onnx(run: Path, folder: Path) -> None:
    command = [sys.executable, "-m", "vaekit", "export", str(run), "--format", "onnx", "--out", str(folder)]
    print(f"$ {shlex.join(command)}", flush=True)
    subprocess.run(command, check=True)


def notes(run_config: dict[str, Any], args: argparse.Namespace, info: dict[str, Any], results: dict) -> list[str]:
    out = []
    load, cores = info["load_average_1min_start"], info["cores"]
    prior = run_config["model"].get("code_prior", "standard")
    if prior != "standard":
        out.append(f"the run samples z from its '{prior}' code prior; the ONNX app samples N(0, I) (not replicated)")
    else:
        out.append("code_prior 'standard': both backends sample z ~ N(0, I) (torch's vs numpy's generator)")
    out.append(
        "the ONNX app has no middleware; vaekit serve's (request deadline, body size and API key checks, one pure "
        "ASGI layer) is part of the torch numbers"
    )
    if not (importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")):
        out.append("uvicorn runs on asyncio + h11 for both backends (uvloop / httptools not installed)")
    if load > cores / 4:
        out.append(f"1-minute load average {load:.2f} at start on {cores} cores: the machine was busy")
    for backend, endpoint in itertools.product(results, ENDPOINTS):
        others = results[backend][endpoint]["other_processes_cpu_cores"]
        if others > 0.1 * cores:
            out.append(f"other processes took {others:.2f} cores while {backend} {endpoint} was measured: disturbed")
    out.append(f"load generator: {args.client}; torch and ONNX Runtime intra-op threads: {args.threads}")
    return out


# ------------------------------------------------------------------------------------------- main and plot


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    print(f"{info['cpu']}, {info['cores']} cores · {info['uptime']}", flush=True)
    if info["load_average_1min_start"] > info["cores"] / 4:
        print("warning: the machine is busy: timings will be low and noisy", flush=True)
    config = json.loads((args.run / "config.json").read_text())
    model, latent_dim = args.run.resolve().name, config["model"]["latent_dim"]
    image = mnist_image()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_onnx(args.run, tmp / "onnx")
        torch_server = [sys.executable, "-m", "vaekit", "--threads", str(args.threads), "serve", str(args.run)]
        with Server(torch_server, tmp / "torch.log") as server:
            print(f"torch: {shlex.join(server.command)}", flush=True)
            reference = reference_answers(server.url, model, image, latent_dim)
            results["torch"] = run_backend(server, model, image, args)
        onnx_server = [sys.executable, __file__, "--serve-onnx", str(tmp / "onnx"), "--name", model]
        with Server([*onnx_server, "--threads", str(args.threads)], tmp / "onnx.log") as server:
            print(f"onnxruntime: {shlex.join(server.command)}", flush=True)
            checks = compare(server.url, model, image, reference)
            checks["onnx_server_imported_torch"] = server.health["torch_imported"]
            results["onnxruntime"] = run_backend(server, model, image, args)
    info["load_average_1min_end"] = os.getloadavg()[0]
    settings = {k: getattr(args, k) for k in ("clients", "seconds", "warmup", "threads", "client")}
    settings.update(run=str(args.run), out=str(args.out), model=model, request_timeout_s=REQUEST_TIMEOUT_S)
    return {
        "benchmark": "serve_load",
        "command": "python " + shlex.join(sys.argv),
        "machine": info,
        "settings": {**settings, "versions": versions()},
        "results": results,
        "checks": checks,
        "notes": notes(config, args, info, results),
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, s, m = report["results"], report["settings"], report["machine"]
    metrics = [
        ("requests_per_s", "throughput (requests/s)"),
        ("p50_ms", "p50 latency (ms)"),
        ("p99_ms", "p99 latency (ms)"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    x, width = np.arange(len(ENDPOINTS)), 0.38
    for ax, (key, title) in zip(axes, metrics, strict=True):
        for i, backend in enumerate(BACKENDS):
            values = [results[backend][e][key] for e in ENDPOINTS]
            bars = ax.bar(x + (i - 0.5) * width, values, width, label=backend, color=("#c0504d", "#4f81bd")[i])
            ax.bar_label(bars, fmt="%.0f" if key == "requests_per_s" else "%.1f", fontsize=8)
        ax.set_xticks(x, [f"POST /{e}" for e in ENDPOINTS])
        ax.set_title(title)
        ax.margins(y=0.15)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(BACKENDS), frameon=False)
    fig.suptitle(
        f"one uvicorn process, {s['clients']} clients × {s['seconds']} s per endpoint ({s['client']}), "
        f"{s['threads']} intra-op thread · {m['cpu']}, {m['cores']} cores, load {m['load_average_1min_start']:.2f}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--clients", type=int, default=64, help="concurrent connections")
    parser.add_argument("--seconds", type=int, default=30, help="measured seconds per endpoint and backend")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before each measurement, not counted")
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--serve-onnx", type=Path, help="serve this `vaekit export` folder and do nothing else")
    parser.add_argument("--name", default="demo", help="--serve-onnx: the model's name in the URLs")
    parser.add_argument("--port", type=int, default=8000, help="--serve-onnx: the port")
    parser.add_argument("--load-url", help=argparse.SUPPRESS)  # the Python client's process
    parser.add_argument("--load-body", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
    return args


def main() -> None:
    args = parse_args()
    if args.serve_onnx:
        return serve_onnx(args.serve_onnx, args.name, args.port, args.threads)
    if args.load_url:
        body = json.loads(args.load_body.read_text())
        return print(json.dumps(asyncio.run(python_load(args.load_url, body, args.clients, args.seconds))))
    report = benchmark(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve_load.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out / "serve_load.png")
    print(f"wrote {args.out / 'serve_load.json'} and {args.out / 'serve_load.png'}")


if __name__ == "__main__":
    main()

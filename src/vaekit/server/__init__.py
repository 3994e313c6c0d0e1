"""``vaekit serve``: a FastAPI app over trained runs — JSON in and out, images as base64 PNG.

Every run named at start-up is loaded once and shared by all requests; the endpoints are plain functions, which
FastAPI runs in its thread pool, so inference never blocks the event loop. Errors are 4xx with one JSON message
(``{"detail": "..."}``): 404 for an unknown model, 422 for input the model cannot read or limits passed, 413 for a
body over ``Limits.body_bytes``, 401 for a missing or wrong API key when one is set; 503 past the deadline. The
OpenAPI schema is at ``/openapi.json`` and its page at ``/docs``.

Endpoints, for a model NAME (the run folder's name unless given as NAME=PATH):

* ``GET /``: the latent explorer page (static/index.html: no CDN, no build step)
* ``GET /health`` and ``GET /models`` (name, kind, input shape, latent size, likelihood, conditions, calibrated,
  metrics)
* ``POST /models/NAME/sample`` ``{"n", "seed", "mean", "temperature", "condition"}``: new images (PNG) or table
  rows (records)
* ``POST /models/NAME/encode`` ``{"inputs"}``: posterior means and log-variances
* ``POST /models/NAME/decode`` ``{"z"}``: images or rows for latent codes
* ``POST /models/NAME/reconstruct`` ``{"inputs"}``: the model's reconstructions
* ``POST /models/NAME/anomaly`` ``{"inputs"}``: scores, and p-values and flags once the run is calibrated
* ``POST /models/NAME/interpolate`` ``{"a", "b", "steps", "slerp"}``: the decoded path between two inputs
* ``POST /models/NAME/impute`` ``{"inputs", "seed"}``: table rows with their missing cells filled
* ``POST /models/NAME/inpaint`` ``{"inputs", "holes", "seed"}``: images with the masked pixels filled
* ``POST /models/NAME/molecules/sample``, ``.../reconstruct``, ``.../neighbours``, ``.../optimize``: molecule
  models (SMILES in and out; see molecules.py)

``inputs`` is a list of images (base64 PNG, any size: converted to the model's channels and size; or nested lists
(H, W) or (C, H, W), values in [0, 1]) or of table rows (objects keyed by column name, or lists in column order;
null for a missing value). A conditional model takes ``condition``: ``{"label": 7}`` for all inputs, or one value
per input (``{"label": [3, 7]}``). A request running longer than ``Limits.timeout`` seconds is answered 503 (its
computation finishes in the background; the limits on counts keep each one short).
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import importlib.resources
import io
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import Headers

from .._version import __version__
from ..errors import VaekitError
from ..inference.anomaly import default_method
from ..vae import VAE, load_model
from . import molecules
from .common import KEY_HEADER, OPEN_PATHS, Limits, Seed, Served, at_most, served, served_model

CONDITION = Field(None, description='a conditional model\'s condition: {"label": 7}, or one value per item')


class SampleRequest(BaseModel):
    n: int = Field(8, ge=1, description="how many samples (at most the server's limit)")
    seed: Seed | None = Field(None, description="same seed, same samples")
    mean: bool | None = Field(None, description="decoded means (default for images) or draws (default for tables)")
    temperature: float = Field(1.0, gt=0, le=10, description="spread of z around its centre (1: the model's own)")
    condition: dict[str, Any] | None = CONDITION


class InputsRequest(BaseModel):
    inputs: list[Any] = Field(..., min_length=1, description="images (base64 PNG or nested lists) or table rows")
    condition: dict[str, Any] | None = CONDITION


class ImputeRequest(BaseModel):
    inputs: list[Any] = Field(..., min_length=1, description="table rows with null for each missing cell")
    seed: Seed = Field(0, description="same seed, same imputation")


class InpaintRequest(BaseModel):
    inputs: list[Any] = Field(..., min_length=1, description="images (nested lists in [0, 1])")
    holes: list[Any] = Field(..., description="the pixels to fill (true / 1): one (H, W) mask for all, or one each")
    seed: Seed = Field(0, description="same seed, same completion")


class InterpolateRequest(BaseModel):
    a: Any = Field(..., description="the first input (an image as nested lists, or a table row)")
    b: Any = Field(..., description="the second input")
    steps: int = Field(8, ge=2, le=64, description="points on the path, both ends included")
    slerp: bool = Field(False, description="spherical instead of straight interpolation")
    condition: dict[str, Any] | None = CONDITION


Coordinate = Annotated[float, Field(ge=-1e3, le=1e3, allow_inf_nan=False)]


class DecodeRequest(BaseModel):
    z: list[list[Coordinate]] = Field(..., min_length=1, description="latent codes, latent_dim numbers each")
    condition: dict[str, Any] | None = CONDITION


def model_names(runs: list[str]) -> dict[str, Path]:
    """NAME=PATH or PATH (named after its folder) -> {name: path}; a name given twice is an error."""
    out: dict[str, Path] = {}
    for spec in runs:
        name, sep, path = spec.partition("=")
        path = Path(path if sep else spec)
        name = name if sep else path.resolve().name
        if name in out:
            raise VaekitError(f"two runs are named '{name}': name them with NAME=PATH")
        out[name] = path
    return out


def create_app(runs: dict[str, Path], api_key: str | None = None, limits: Limits | None = None) -> FastAPI:
    """The app serving ``runs`` ({name: run folder}, each loaded now); with ``api_key`` every request but those
    to ``OPEN_PATHS`` must carry it in the X-API-Key header."""
    limits = limits or Limits()
    loaded = Served({name: load_model(path).eval() for name, path in runs.items()}, limits)
    loaded.metrics = {name: _metrics(Path(path)) for name, path in runs.items()}
    for name, m in loaded.models.items():
        if m.schema.kind not in ("image", "table", "sequence"):
            raise VaekitError(f"run '{name}' holds {m.schema.kind} data; the server serves images, tables, molecules")
    app = FastAPI(title="vaekit", version=__version__, description=__doc__.split("\n\n")[0])
    app.state.served = loaded
    _guard(app, limits, api_key)
    app.include_router(router)
    app.include_router(molecules.router)
    return app


class Guard:
    """Pure ASGI middleware (no task and stream per request, as FastAPI's ``@app.middleware`` makes): refuses a
    missing or wrong API key (401) and a body over the limit (413: as declared, and as read, since a chunked body
    declares no length), and answers 503 when a request runs past the deadline. The endpoint's thread is not
    stopped then; the limits on counts keep each request short."""

    def __init__(self, app: Any, limits: Limits, api_key: str | None) -> None:
        self.app, self.limits, self.api_key = app, limits, api_key

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        started = False
        received = 0

        async def sending(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def receiving() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limits.body_bytes:
                raise HTTPException(413, f"request body over {self.limits.body_bytes:,} bytes")
            return message

        try:
            async with asyncio.timeout(self.limits.timeout):
                await self.app(scope, receiving, sending)
        except TimeoutError:
            if not started:
                message = f"the request took longer than {self.limits.timeout:g} s: ask for fewer items"
                await JSONResponse({"detail": message}, status_code=503)(scope, receive, send)

    def _refusal(self, scope: dict[str, Any]) -> JSONResponse | None:
        headers = Headers(scope=scope)
        size = headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > self.limits.body_bytes):
            return JSONResponse({"detail": f"request body over {self.limits.body_bytes:,} bytes"}, status_code=413)
        if self.api_key and scope["path"] not in OPEN_PATHS:
            given = headers.get(KEY_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                return JSONResponse({"detail": f"missing or wrong API key (header {KEY_HEADER})"}, status_code=401)
        return None


def _guard(app: FastAPI, limits: Limits, api_key: str | None) -> None:
    """The middleware (API key, body size, deadline) and the one-line error answers."""
    app.add_middleware(Guard, limits=limits, api_key=api_key)

    @app.exception_handler(VaekitError)
    async def refused(request: Request, exc: VaekitError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "the request body"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        return JSONResponse({"detail": f"{where}: {first['msg']}{more}"}, status_code=422)


router = APIRouter()
PNG_GRID: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "with `Accept: image/png`: the images in one PNG grid"}
}


def _batch(request: Request, m: VAE, inputs: list[Any]) -> Any:
    """The request's inputs as the model reads them: a DataFrame for tables, a float array for images, token ids
    for molecules."""
    at_most(len(inputs), served(request).limits.rows, "inputs")
    if m.schema.kind == "table":
        return _rows(inputs, list(m.schema.columns or []))
    if m.schema.kind == "sequence":  # SMILES, or token ids as the model writes them
        return molecules.token_ids(m, inputs) if all(isinstance(s, str) for s in inputs) else _numbers(inputs)
    pixels = served(request).limits.image_pixels
    return _numbers([_image(item, m.schema.shape, pixels) for item in inputs]).astype(np.float32)


def _numbers(inputs: list[Any]) -> np.ndarray:
    """Nested lists of one shape as a float64 array of finite, moderate numbers (what images and token ids are)."""
    try:
        x = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError):
        raise HTTPException(
            422, "inputs must be of one shape: images (base64 PNG or nested lists of numbers), SMILES or token ids"
        ) from None
    if not np.isfinite(x).all() or np.abs(x).max(initial=0) > 1e6:
        raise HTTPException(422, "inputs must be finite numbers: images in [0, 1], token ids in the vocabulary")
    return x


def _rows(inputs: list[Any], columns: list[str]) -> pd.DataFrame:
    """Table rows: objects keyed by column name, or lists of one value per column."""
    if all(isinstance(r, dict) for r in inputs):
        return pd.DataFrame(inputs)
    if all(isinstance(r, list) and len(r) == len(columns) for r in inputs):
        return pd.DataFrame(inputs, columns=columns)
    raise HTTPException(
        422, f"each table row must be an object keyed by column name or a list of {len(columns)} values"
    )


def _image(item: Any, shape: tuple[int, ...], max_pixels: int) -> Any:
    """One input image: nested lists as given; a base64 PNG or JPEG (a data: URL too) decoded to the model's
    channels and size, in [0, 1], its size checked before its pixels are read."""
    if not isinstance(item, str):
        return item
    from PIL import Image

    data = item.partition("base64,")[2] if item.startswith("data:") else item
    channels, height, width = shape
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        if image.width * image.height > max_pixels:
            raise HTTPException(422, f"an image of {image.width}x{image.height}: at most {max_pixels:,} pixels")
        image = image.convert("L" if channels == 1 else "RGB")  # reads the pixels
    except (ValueError, OSError, Image.DecompressionBombError):  # not base64, not an image, truncated
        raise HTTPException(422, "an image string must be a base64 PNG (or JPEG)") from None
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 255
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def _records(frame: pd.DataFrame) -> dict[str, Any]:
    """Table rows as JSON records, null for a missing cell."""
    return {"rows": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}


def _rendered(m: VAE, x: torch.Tensor, request: Request) -> Any:
    """Images as base64 PNG in JSON, or, asked with ``Accept: image/png``, one PNG of them all in a grid; rows as
    records."""
    if m.schema.kind == "sequence":
        return molecules.rendered(m, x)
    if m.schema.kind == "image" and "image/png" in request.headers.get("accept", ""):
        from ..workflows.outputs import grid

        buffer = io.BytesIO()
        grid(x.detach().cpu(), ncol=min(8, len(x))).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")
    if m.schema.kind == "table":
        from ..data.tables import frame_with_condition

        return _records(frame_with_condition(x.double().cpu().numpy(), m.schema, None))
    return {"images": [_png(image) for image in x.detach().cpu()]}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    """The latent explorer: sliders over the code, drop an image to encode it, a form that imputes a row."""
    return importlib.resources.files(__package__).joinpath("static", "index.html").read_text(encoding="utf-8")


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "models": len(served(request).models)}


@router.get("/models")
def models(request: Request) -> list[dict[str, Any]]:
    here = served(request)
    return [_describe(name, m, here.metrics.get(name, {})) for name, m in here.models.items()]


@router.post("/models/{name}/sample", responses=PNG_GRID)
def sample(name: str, body: SampleRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    limit = served(request).limits.samples
    if body.n > limit:
        raise HTTPException(422, f"n = {body.n}: at most {limit} samples per request")
    with torch.no_grad():
        x = m.sample(body.n, seed=body.seed, mean=body.mean, condition=body.condition, temperature=body.temperature)
    return _rendered(m, x, request)


@router.post("/models/{name}/encode")
def encode(name: str, body: InputsRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    x = _batch(request, m, body.inputs)
    with torch.no_grad():
        q = m.encode(x, condition=m.condition_values(body.condition, len(x)))
    logvar = getattr(q, "logvar", None)  # a plain autoencoder's code is a point
    return {"mean": q.mean.tolist(), "logvar": None if logvar is None else logvar.tolist()}


@router.post("/models/{name}/decode", responses=PNG_GRID)
def decode(name: str, body: DecodeRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    at_most(len(body.z), served(request).limits.rows, "codes")
    if len({len(code) for code in body.z}) != 1:
        raise HTTPException(422, "z: every code must have the same length (the model's latent size)")
    z = np.asarray(body.z, dtype=np.float32)
    with torch.no_grad():
        return _rendered(m, m.decode(z, m.condition_values(body.condition, len(z))).mean, request)


@router.post("/models/{name}/reconstruct", responses=PNG_GRID)
def reconstruct(name: str, body: InputsRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    return _rendered(m, m.reconstruct(_batch(request, m, body.inputs), condition=body.condition), request)


@router.post("/models/{name}/interpolate", responses=PNG_GRID)
def interpolate(name: str, body: InterpolateRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    ends = _batch(request, m, [body.a, body.b])
    a, b = (ends.iloc[[i]] if isinstance(ends, pd.DataFrame) else ends[i] for i in (0, 1))
    return _rendered(m, m.interpolate(a, b, steps=body.steps, slerp=body.slerp, condition=body.condition), request)


@router.post("/models/{name}/impute")
def impute(name: str, body: ImputeRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    if m.schema.kind != "table":
        raise HTTPException(422, f"impute fills missing cells of tables; '{name}' is an {m.schema.kind} model")
    from ..workflows.impute import impute_frame

    return _records(impute_frame(m, _batch(request, m, body.inputs), seed=body.seed))


@router.post("/models/{name}/inpaint", responses=PNG_GRID)
def inpaint(name: str, body: InpaintRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    if m.schema.kind != "image":
        raise HTTPException(422, f"inpaint fills pixels of images; '{name}' is a {m.schema.kind} model")
    x = _batch(request, m, body.inputs)
    try:
        holes = np.asarray(body.holes, dtype=np.float32) > 0
    except (TypeError, ValueError):
        raise HTTPException(422, "holes must be one mask of the images' shape: nested lists of 0/1") from None
    return _rendered(m, m.inpaint(x, holes, seed=body.seed).mean, request)


@router.post("/models/{name}/anomaly")
def anomaly(name: str, body: InputsRequest, request: Request) -> dict[str, Any]:
    m = served_model(request, name)
    x = _batch(request, m, body.inputs)
    out: dict[str, Any] = {"method": default_method(m, m.calibration), "scores": m.anomaly_score(x).tolist()}
    if m.calibration is not None:
        out["p_values"] = m.p_values(x).tolist()
        out["anomaly"] = m.is_anomaly(x).tolist()
        out["fpr"] = m.calibration.fpr
    return out


def _describe(name: str, m: VAE, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "kind": m.schema.kind,
        "input_shape": list(m.schema.shape),
        "columns": list(m.schema.columns) if m.schema.columns else None,
        "latent_dim": m.config.latent_dim,
        "likelihood": m.config.likelihood.kind,
        "conditions": _conditions(m),
        "calibrated": m.calibration is not None,
        "metrics": metrics,
        **(molecules.describe(m) if m.schema.kind == "sequence" else {}),
    }


def _conditions(m: VAE) -> list[dict[str, Any]] | None:
    """What a conditional model's ``condition`` takes: each name with its type (and categories)."""
    info = m.condition
    if info is None:
        return None
    return [
        {"name": n, "type": t, "categories": list(info.categories[n]) if n in info.categories else None}
        for n, t in zip(info.names, info.types, strict=True)
    ]


def _metrics(run: Path) -> dict[str, Any]:
    """The numbers of the run's own evaluation (eval.json: ELBO, IWAE, bits/dim, KL per dimension...), when it has
    one and it reads as JSON."""
    try:
        evaluation = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(evaluation, dict):
        return {}
    out = {k: v for k, v in evaluation.items() if _is_number(v) and k != "seed" and not k.endswith("_seconds")}
    per_dim = evaluation.get("kl_per_dim")
    if isinstance(per_dim, list) and all(_is_number(v) for v in per_dim):
        out["kl_per_dim"] = per_dim
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def _png(image: torch.Tensor) -> str:
    """An image (C, H, W) in [0, 1] as base64 PNG."""
    from PIL import Image

    array = (image.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")

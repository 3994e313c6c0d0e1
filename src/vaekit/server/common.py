"""What the server's routers share: the limits of one request, the served models, and the checks every endpoint
makes (a model by name: 404 when unknown; a count within its limit: 422)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import HTTPException, Request
from pydantic import Field

from ..vae import VAE

MAX_SAMPLES = 256  # per request
MAX_ROWS = 1024  # inputs per request
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096  # an uploaded PNG's width x height, checked before it is decoded
TIMEOUT_S = 30.0
KEY_HEADER = "X-API-Key"
OPEN_PATHS = ("/", "/health")  # no key needed: the explorer page (it asks for the key) and the health check


@dataclass
class Limits:
    """What one request may ask for."""

    samples: int = MAX_SAMPLES
    rows: int = MAX_ROWS
    body_bytes: int = MAX_BODY_BYTES
    image_pixels: int = MAX_IMAGE_PIXELS
    timeout: float = TIMEOUT_S  # seconds before a request is answered 503


@dataclass
class Served:
    """The loaded models by name, and the limits of one request."""

    models: dict[str, VAE] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name: eval.json's numbers


Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]  # what torch's generators take


def served(request: Request) -> Served:
    return request.app.state.served


def served_model(request: Request, name: str) -> VAE:
    """The served model NAME; 404 naming the served ones when there is none."""
    models = served(request).models
    if name not in models:
        raise HTTPException(404, f"no model '{name}': the server has {', '.join(models)}")
    return models[name]


def at_most(n: int, limit: int, what: str) -> None:
    """422 when a request asks for more than ``limit`` of ``what``."""
    if n > limit:
        raise HTTPException(422, f"{n:,} {what}: at most {limit:,} per request")

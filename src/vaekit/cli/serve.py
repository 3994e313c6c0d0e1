"""``vaekit serve``: the REST API over trained runs (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from ..errors import VaekitError
from .common import app, friendly, out_console

LOOPBACK = ("localhost",)


@app.command(
    epilog="Examples:  `vaekit serve runs/demo`  ·  `vaekit serve digits=runs/demo tab=runs/tab --port 8080`  ·  "
    "`VAEKIT_API_KEY=secret vaekit serve runs/demo --host 0.0.0.0`"
)
@friendly
def serve(
    runs: Annotated[list[str], typer.Argument(help="Run folders to serve, as PATH or NAME=PATH.")],
    host: Annotated[str, typer.Option(help="Address to bind; another than loopback needs --api-key or --no-auth.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="VAEKIT_API_KEY", help="Key every request must send in the X-API-Key header."),
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve without a key on a non-loopback address.")] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds before a request is answered 503 (its work is not resumed).")
    ] = 30.0,
) -> None:
    """Serve runs over HTTP: the latent explorer page at /, and sample, encode, decode, reconstruct, interpolate,
    anomaly, impute, inpaint and molecule endpoints (JSON; images as PNG); OpenAPI page at /docs. Needs
    `pip install 'vaekit[serve]'`."""
    if not is_loopback(host) and not api_key and not no_auth:
        raise VaekitError(
            f"binding to {host} exposes the models beyond this machine: set --api-key (or VAEKIT_API_KEY), or pass "
            "--no-auth to serve without one"
        )
    try:
        import uvicorn

        from ..server import Limits, create_app, model_names
    except ModuleNotFoundError as e:
        raise VaekitError(
            f"serving needs the serve extra ({e.name} is not installed): pip install 'vaekit[serve]'"
        ) from None
    served = model_names(runs)
    application = create_app(served, api_key=api_key, limits=Limits(timeout=timeout))
    out_console.print(f"serving {', '.join(served)} on http://{host}:{port} (API page: /docs)", soft_wrap=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

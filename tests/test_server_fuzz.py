"""``vaekit serve`` under property-based fuzzing from its own OpenAPI schema (schemathesis): whatever the body,
query or path, no request gets a server error (5xx) — bad input is a 4xx with a message — for an image, a table and a
molecule model."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import vaekit

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from vaekit.molecules import load_moses  # noqa: E402
from vaekit.server import Limits, create_app  # noqa: E402

NAMES = ("digits", "tab", "mol")
DERANDOMIZE = "VAEKIT_FUZZ_RANDOM" not in os.environ  # CI sends the same requests every run
EXAMPLES = int(os.environ.get("VAEKIT_FUZZ_EXAMPLES", "25"))  # per operation; more: set the variable


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    images = (rng.random((200, 8, 8)) < 0.3).astype(np.float32)
    vaekit.train(images, root / "digits", epochs=1, hidden=(16,), latent_dim=2, seed=0, progress=False)
    frame = pd.DataFrame({"a": rng.normal(size=100), "c": rng.choice(["x", "y"], 100)})
    vaekit.train(frame, root / "tab", epochs=1, hidden=(8,), latent_dim=2, seed=0, progress=False)
    smi = root / "small.smi"
    smi.write_text("\n".join(load_moses("train", subset=200, seed=1).smiles) + "\n")
    vaekit.train(str(smi), out=root / "mol", epochs=1, preset="sequence", hidden=(16, 32), latent_dim=4, progress=False)
    app = create_app({name: root / name for name in NAMES}, limits=Limits(samples=16, rows=16))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_request_gets_a_server_error(api_schema):
    """Every operation, with bodies both valid and invalid for its schema (schemathesis' positive and negative
    modes), sent as generated and once for each served model (an image, a table and a molecule model), since a
    random name only reaches the 404. (Hypothesis drives each operation directly: schemathesis' pytest plugin
    does not run under pytest 9.2.)"""
    operations = [op.ok() for op in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        send_everywhere(operation)


def send_everywhere(operation) -> None:
    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=DERANDOMIZE,
    )
    def run(case):
        case.call_and_validate(checks=[not_a_server_error])
        if "name" in (case.path_parameters or {}):
            for name in NAMES:
                case.path_parameters["name"] = name
                case.call_and_validate(checks=[not_a_server_error])

    run()

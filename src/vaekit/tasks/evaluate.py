"""``vaekit evaluate``: ELBO, reconstruction and KL of a run on a data split, written to RUN/eval.json."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from .._io import write_json
from ..bundle import load_model
from ..training.loop import elbo_stats
from .data import binarized_like_training, load_for_model


def evaluate(
    run: str | Path, data: str | None = None, split: str = "auto", seed: int = 0, write: bool = True
) -> dict[str, Any]:
    """Mean per-sample ELBO, reconstruction log-likelihood and KL (nats), bits/dim; saved as RUN/eval.json."""
    model = load_model(run)
    sel = load_for_model(model, data, split)
    x = binarized_like_training(model, sel.x)
    start = time.perf_counter()
    stats = elbo_stats(model, x, seed=seed)
    dims = model.schema.size
    result = {
        "data": data or model.run_config.get("training", {}).get("data"),
        "split": sel.split,
        "n": len(x),
        "elbo": stats["elbo"],
        "reconstruction": stats["reconstruction"],
        "kl": stats["kl"],
        "bits_per_dim": -stats["elbo"] / (dims * math.log(2)),
        "seconds": time.perf_counter() - start,
        "seed": seed,
    }
    if write:
        write_json(Path(run) / "eval.json", result)
    return result

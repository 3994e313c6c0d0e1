"""The run record: what a bundle's config.json says about the data and the training, as typed fields.

config.json keeps its keys (``training``: the data spec, the architecture arguments, ``options`` — the
TrainConfig — and ``result``); this is the one place that reads them, so no caller walks ``.get()`` chains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import BundleError

IN_MEMORY = "<in-memory>"  # the data spec of a run trained on a Dataset or arrays passed from Python
UNTRAINED, IN_PROGRESS, FINISHED = "untrained", "in_progress", "finished"  # config.json "training" "status"


def training_status(config: dict[str, Any]) -> str:
    """How far the training of a bundle got, from its config.json: "untrained" (no epoch completed yet: the run
    has no usable weights; ``--resume`` starts it), "in_progress" (at least one epoch completed, training running
    or interrupted; the weights are the best epoch's so far) or "finished". A bundle not written by ``train``
    (``VAE.save``) is "finished"; one written before this field existed is "untrained" when it completed no epoch.
    """
    training = config.get("training") or {}
    status = training.get("status")
    if status is None:
        result = training.get("result")
        return UNTRAINED if isinstance(result, dict) and result.get("epochs_completed") == 0 else FINISHED
    if status not in (UNTRAINED, IN_PROGRESS, FINISHED):
        raise BundleError(
            f"config.json has an unknown training status {status!r}: expected {UNTRAINED}, {IN_PROGRESS} or {FINISHED}"
        )
    return status


@dataclass(frozen=True)
class TrainingResult:
    """How far training got (config.json ``training.result``)."""

    epochs_completed: int = 0
    best_epoch: int | None = None
    best_val: float | None = None
    selected_by: str = ""  # what chose the kept weights, e.g. "validation ELBO"
    stopped_early: bool = False
    stopped_by: str = ""  # "epochs", "early_stopping", "time_limit" ("" while running, and in older bundles)

    @classmethod
    def from_dict(cls, d: Any) -> TrainingResult | None:
        if not isinstance(d, dict):
            return None
        return cls(
            epochs_completed=_int(d.get("epochs_completed"), 0),
            best_epoch=_int(d.get("best_epoch"), None),
            best_val=float(d["best_val"]) if isinstance(d.get("best_val"), int | float) else None,
            selected_by=str(d.get("selected_by") or ""),
            stopped_early=bool(d.get("stopped_early", False)),
            stopped_by=str(d.get("stopped_by") or ""),
        )


@dataclass(frozen=True)
class RunRecord:
    """The ``training`` section of config.json. Every field has the meaning ``vaekit.train`` gave it."""

    data: str | None = None  # the data spec trained on ("mnist", a path, "moses"); None or IN_MEMORY: from Python
    label_column: str | None = None
    image_size: int | None = None
    preset: str | None = None
    representation: str | None = None  # molecules: "selfies" or "smiles"
    smiles_column: str | None = None
    binarize: str = "none"  # what training did to the inputs: none, dynamic or static (``binarize_resolved``)
    val_fraction: float = 0.0
    seed: int = 0
    subset: int | None = None
    corrupt: str | None = None  # the --corrupt spec of a denoising VAE
    options: dict[str, Any] = field(default_factory=dict)  # every TrainConfig field as saved
    result: TrainingResult | None = None
    status: str = FINISHED  # training_status(): untrained, in_progress or finished

    @property
    def from_file(self) -> bool:
        """Whether the run was trained on data a spec can load again (not on arrays passed from Python)."""
        return self.data is not None and self.data != IN_MEMORY

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> RunRecord:
        """The record of a bundle's config.json (an empty record for a model that was never saved)."""
        t = (cfg or {}).get("training")
        if not isinstance(t, dict):
            return cls()
        options = t.get("options") if isinstance(t.get("options"), dict) else {}
        val = options.get("val_fraction", 0.0)
        return cls(
            data=_str(t.get("data")),
            label_column=_str(t.get("label_column")),
            image_size=_int(t.get("image_size"), None),
            preset=_str(t.get("preset")),
            representation=_str(t.get("representation")),
            smiles_column=_str(t.get("smiles_column")),
            binarize=_str(t.get("binarize_resolved")) or "none",
            val_fraction=float(val) if isinstance(val, int | float) else 0.0,
            seed=_int(options.get("seed"), 0),
            subset=_int(options.get("subset"), None),
            corrupt=_str(options.get("corrupt")),
            options=dict(options),
            result=TrainingResult.from_dict(t.get("result")),
            status=training_status(cfg or {}),
        )


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _int(v: Any, default: int | None) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else default

"""A damaged or hostile bundle is refused with one BundleError line, quickly and before anything large is built:
config.json (version, nesting, sizes, types), the weights (shapes against the config, NaN/inf), the training state
and the anomaly calibration. Bundles written by earlier releases keep loading and giving the same outputs."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import vaekit
from vaekit import VAE, bundle
from vaekit.bundle import load_checkpoint, save_checkpoint, validate
from vaekit.cli.app import app
from vaekit.core import conformal
from vaekit.core.likelihoods import LIKELIHOODS, GaussianConfig
from vaekit.data.schema import Schema
from vaekit.errors import BundleError
from vaekit.models.module import ARCHITECTURES, PRESETS, ModelConfig
from vaekit.nn import MLPConfig

FIXTURES = Path(__file__).parent / "fixtures" / "bundle_v1_2026_12"
TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "C"]
VOCAB = {"format": 1, "representation": "selfies", "max_length": 10, "tokens": TOKENS}


def table_model() -> VAE:
    torch.manual_seed(0)
    config = ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(8,)), likelihood=GaussianConfig())
    return VAE(config, Schema("table", (3,), columns=("a", "b", "c")))


@pytest.fixture
def run(tmp_path) -> Path:
    """A small valid table run."""
    table_model().save(tmp_path / "run", training={"data": "table.csv", "options": {"epochs": 3, "seed": 0}})
    return tmp_path / "run"


@pytest.fixture
def image_run(tmp_path) -> Path:
    VAE(PRESETS["seed"], Schema("image", (1, 28, 28))).save(tmp_path / "img", training={"data": "mnist"})
    return tmp_path / "img"


def edit(run: Path, where: str, value) -> Path:
    """Set the config.json entry at the dotted path ``where`` (created if missing) to ``value``."""
    cfg = json.loads((run / "config.json").read_text())
    *parents, last = where.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    (run / "config.json").write_text(json.dumps(cfg))
    return run


def refused(run: Path, match: str) -> str:
    """Loading ``run`` is refused quickly with one BundleError line matching ``match``."""
    start = time.perf_counter()
    with pytest.raises(BundleError, match=match) as info:
        vaekit.load(run)
    assert time.perf_counter() - start < 2.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message


# -- 1. format version -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1", None, [1], 1.5, True, -1, 0])
def test_format_version_must_be_a_known_integer(run, version):
    """Guards: a string/null/list/bool format_version gave a TypeError, -1 and 0 loaded as if valid."""
    message = refused(edit(run, "format_version", version), "format_version")
    assert "expected" in message and json.dumps(version) in message


def test_a_newer_format_still_says_upgrade(run):
    refused(edit(run, "format_version", bundle.FORMAT_VERSION + 1), "newer vaekit")


# -- 2. nesting and size of the JSON files ---------------------------------------------------------------------
def test_deeply_nested_config_is_refused(run):
    """Guards: '[' * 100000 raised RecursionError from json.loads."""
    (run / "config.json").write_text("[" * 100_000)
    refused(run, "nested 100000 levels deep")


def test_deep_structure_inside_a_valid_config_is_refused(run):
    cfg = (run / "config.json").read_text()
    (run / "config.json").write_text(cfg.replace('"training": {', '"training": {"x": ' + "[" * 500 + "]" * 500 + ","))
    refused(run, "nested 50. levels deep")


def test_huge_config_is_refused_before_reading(run):
    with open(run / "config.json", "r+b") as f:
        f.truncate(bundle.MAX_CONFIG_BYTES + 1)  # sparse: nothing is written, the size is what counts
    refused(run, "larger than a vaekit config.json can be")


def test_brackets_inside_strings_are_not_nesting(run):
    edit(run, "schema.source", "[" * 1000 + "{" * 1000)
    assert vaekit.load(run).schema.source.startswith("[[[")


# -- 3. sizes and types of the model description ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "value", "match"),
    [
        ("model.architecture.hidden", [-5], r"model\.architecture\.hidden\[0\] is -5, expected an integer from 1"),
        ("model.architecture.hidden", [8, 0], r"hidden\[1\] is 0"),
        ("model.architecture.hidden", "8", r"hidden is \"8\", expected a list"),
        ("model.architecture.hidden", [1] * 65, r"hidden is \[1, 1, .*, expected a list of at most 64 entries"),
        ("model.architecture.activation", "sigmoid", "expected one of relu, tanh, gelu, silu"),
        ("model.architecture.kind", "transformer", "expected one of mlp, conv, resconv, sequence"),
        ("model.latent_dim", 0, r"model\.latent_dim is 0"),
        ("model.latent_dim", -3, r"model\.latent_dim is -3"),
        ("model.latent_dim", 1e12, r"model\.latent_dim is 1000000000000.0"),
        ("model.latent_dim", 10**12, "expected an integer from 1 to 1,000,000"),
        ("model.latent_dim", True, r"model\.latent_dim is true"),
        ("model.top_latent_dim", -1, "top_latent_dim is -1"),
        ("model.autoencoder", "no", 'autoencoder is "no", expected true or false'),
        ("model.code_prior", "gmm", 'code_prior is "gmm", expected one of standard, fitted'),
        ("model.code_prior", "fitted", r"lacks group_chol and 1 more"),
        ("model.latent_dimm", 3, "unknown field 'latent_dimm'"),
        ("model.architecture.depth", 3, r"model\.architecture has an unknown field 'depth' \(expected kind, hidden, "),
        ("model.architecture", {"hidden": [8]}, r"model\.architecture has no kind"),
        ("model.architecture.kind", None, r"model\.architecture\.kind is null, expected one of mlp, conv"),
        ("model", [], "model is \\[\\], expected an object"),
        ("likelihood.kind", "poisson", 'likelihood.kind is "poisson"'),
        ("likelihood.min_logvar", "low", "likelihood.min_logvar"),
        ("likelihood.min_logvar", float("nan"), r"likelihood\.min_logvar is nan, expected a number from -100 to 100"),
        ("schema.shape", [-1], r"schema\.shape\[0\] is -1"),
        ("schema.shape", [], r"schema\.shape is \[\], expected a list of 1 or more entries"),
        ("schema.shape", [0], r"schema\.shape\[0\] is 0"),
        ("schema.shape", [3, 3], r"expected \(D,\)"),
        ("schema.shape", 3, "expected a list"),
        ("schema.kind", "audio", "schema.kind"),
        ("schema.columns", ["a", "b"], "names 2 columns, expected 3"),
        ("schema.columns", [1, 2, 3], r"schema\.columns\[0\] is 1, expected a string"),
        ("schema.column_types", ["numeric", "numeric", "categorical"], "no entry for the categorical column 'c'"),
        ("schema.column_types", ["numeric", "text", "numeric"], "column_types\\[1\\]"),
        ("schema.categories", {"c": "xyz"}, "schema.categories.c"),
    ],
)
def test_bad_sizes_and_types_are_refused(run, where, value, match):
    """Guards: negative/empty sizes gave RuntimeError/IndexError from torch, floats a TypeError."""
    refused(edit(run, where, value), match)


def test_a_million_bad_entries_are_refused_quickly(run):
    """Guards: pydantic collects the errors of every entry of a list by default: a config holding a million bad
    entries took 16 s and 600 MB before its first error was reported."""
    refused(edit(run, "schema.label_names", [1] * 10**6), r"schema\.label_names\[0\] is 1, expected a string")


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        ("schema.label_names", [1] * 100),
        ("schema.categories", dict.fromkeys(map(str, range(100)), 1)),
        ("schema.categories", {"c": [1] * 100}),
        ("training.numeric", [1] * 100),
        ("likelihood", {"kind": "mixed", "cardinalities": [-1] * 100}),
    ],
)
def test_lists_and_dicts_stop_at_their_first_bad_entry(run, where, bad):
    """Every list and dict of the config fails fast: one error, not one per entry (see the test above)."""
    cfg = json.loads((edit(run, where, bad) / "config.json").read_text())
    with pytest.raises(ValidationError) as info:
        validate.CONFIG_SECTIONS.model_validate(cfg)
    assert info.value.error_count() == 1, info.value


@pytest.mark.parametrize(
    ("value", "match"),
    [([-1, 28, 28], r"schema\.shape\[0\] is -1"), ([0, 28, 28], r"shape\[0\] is 0"), ([28, 28], r"\(C, H, W\)")],
)
def test_bad_image_shapes_are_refused(image_run, value, match):
    refused(edit(image_run, "schema.shape", value), match)


def test_too_many_values_per_sample_are_refused(image_run):
    refused(edit(image_run, "schema.shape", [1000, 1000, 1000]), "at most 100,000,000 values per sample")


def test_mixed_likelihood_must_match_the_columns(run):
    edit(run, "schema.column_types", ["numeric", "numeric", "categorical"])
    edit(run, "schema.categories", {"c": ["x", "y", "z"]})
    edit(run, "likelihood", {"kind": "mixed", "cardinalities": [0, 0, -3]})
    refused(run, r"likelihood\.cardinalities\[2\] is -3")
    edit(run, "likelihood", {"kind": "mixed", "cardinalities": [0, 4]})
    refused(run, "cardinalities must match the table's columns")


def test_sequence_vocabulary_is_checked(run):
    edit(run, "schema", {"kind": "sequence", "shape": [12], "vocabulary": {**VOCAB, "tokens": ["<pad>"]}})
    edit(run, "model.architecture", {"kind": "sequence"})
    edit(run, "likelihood", {"kind": "categorical_sequence"})
    refused(run, r"schema\.vocabulary\.tokens is \[\"<pad>\"\], expected a list of 5")
    edit(run, "schema.vocabulary", None)
    refused(run, "schema.vocabulary is missing")


@pytest.mark.parametrize(
    ("config", "shape", "match"),
    [
        (ModelConfig(latent_dim=0), (3,), "latent sizes must be positive integers"),
        (ModelConfig(top_latent_dim=-2), (3,), "latent sizes must be positive integers"),
        (
            ModelConfig(architecture=MLPConfig(hidden=(8, -5))),
            (3,),
            r"layer widths must be positive integers, got \[8, -5\]",
        ),
        (ModelConfig(architecture=MLPConfig(hidden=(8.0,))), (3,), "layer widths"),
        (PRESETS["conv"], (1, 0, 28), r"shape must be positive integers, got \[1, 0, 28\]"),
        (ModelConfig(), (), "the schema's shape is empty"),
    ],
)
def test_the_constructor_refuses_bad_sizes(config, shape, match):
    """The Python API gets the same refusal as a bundle: a ValueError, not a torch error from deep inside."""
    with pytest.raises(ValueError, match=match):
        VAE(config, Schema("image" if len(shape) == 3 else "vector", shape))


def test_numpy_sizes_are_accepted():
    model = VAE(
        ModelConfig(latent_dim=np.int64(2), architecture=MLPConfig(hidden=(np.int64(4),))), Schema("vector", (3,))
    )
    assert model.decode(torch.zeros(1, 2)).mean.shape == (1, 3)


def test_the_checks_know_every_config_field():
    """The validation tables in vaekit.bundle name every field of the model's config classes (a new field
    added to a config but not to the checks would refuse every bundle that has it)."""
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)} - {"likelihood"}
    assert set(bundle.MODEL_FIELDS) == model_fields
    assert set(bundle.ARCHITECTURES) == set(ARCHITECTURES) and set(bundle.LIKELIHOODS) == set(LIKELIHOODS)
    for kinds, table in ((ARCHITECTURES, bundle.ARCHITECTURES), (LIKELIHOODS, bundle.LIKELIHOODS)):
        for kind, cls in kinds.items():
            assert set(table[kind]) | {"kind"} == {f.name for f in dataclasses.fields(cls)}, kind


# -- 4. the weights are compared with the config before the model is built ------------------------------------
class Spy(VAE):
    """Records the device each model is built on."""

    devices: list[str] = []

    @classmethod
    def from_config(cls, cfg):
        cls.devices.append(torch.empty(()).device.type)
        return super().from_config(cfg)


@pytest.mark.parametrize("hidden", [[10**6, 10**6], [12_000, 12_000]])
def test_a_huge_network_is_refused_before_it_is_allocated(run, hidden):
    """Guards: a 2 KB bundle whose config asks for hidden [1e6, 1e6] (4 TB of weights) was built before the
    weights were checked. Now the model is only built on the meta device and compared with the weights' header."""
    edit(run, "model.architecture.hidden", hidden)
    Spy.devices = []
    start = time.perf_counter()
    with pytest.raises(
        BundleError, match=r"does not match the model described in config.json: (it lacks|.* has shape)"
    ):
        bundle.load_model(run, cls=Spy)
    assert time.perf_counter() - start < 2.0
    assert Spy.devices == ["meta"]  # never built for real


def test_a_valid_bundle_is_built_for_real_once(run):
    Spy.devices = []
    model = bundle.load_model(run, cls=Spy)
    assert Spy.devices == ["meta", "cpu"] and model.shift.device.type == "cpu"


def test_missing_and_unexpected_weights_are_named(run):
    tensors = load_file(run / "model.safetensors")
    save_file({k: v for k, v in tensors.items() if k != "code_std"}, run / "model.safetensors")
    refused(run, "does not match .*: it lacks code_std")
    save_file({**tensors, "extra.weight": torch.zeros(2)}, run / "model.safetensors")
    refused(run, "extra.weight is not part of the model")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_weights_holding_nan_or_inf_are_refused(run, bad):
    """Guards: NaN weights loaded silently and sampled NaN."""
    tensors = load_file(run / "model.safetensors")
    name = next(k for k in tensors if k.startswith("decoder"))
    tensors[name][0] = bad
    save_file(tensors, run / "model.safetensors")
    message = refused(run, f"model.safetensors holds NaN/inf values in {name}: the run diverged or the file is damaged")
    assert str(run) in message


def test_every_preset_round_trips(tmp_path):
    """The checks refuse nothing vaekit writes: every preset's bundle loads and gives the same outputs."""
    models = [VAE(PRESETS[p], Schema("image", (1, 28, 28))) for p in ("seed", "conv", "resconv", "ladder")]
    models.append(VAE(dataclasses.replace(PRESETS["table"], mask_input=True), Schema("table", (4,))))
    seq = dataclasses.replace(PRESETS["sequence"], architecture=dataclasses.replace(PRESETS["sequence"].architecture))
    models.append(VAE(seq, Schema("sequence", (12,), vocabulary=VOCAB)))
    for i, model in enumerate(models):
        model.save(tmp_path / str(i))
        loaded = vaekit.load(tmp_path / str(i))
        z = torch.zeros(2, model.config.latent_dim)
        if not model.is_sequence:
            torch.testing.assert_close(loaded.decode(z).mean, model.eval().decode(z).mean)
        assert all(
            torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True)
        )


# -- 9. the training section: every command gets one line -------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "value", "match"),
    [
        ("training.data", 12345, r"training\.data is 12345, expected a string"),
        ("training.options", "fast", r"training\.options is \"fast\", expected an object"),
        ("training.options.val_fraction", "0.1", r"training\.options\.val_fraction"),
        ("training.options.seed", 1.5, r"training\.options\.seed"),
        ("training.result", [], r"training\.result is \[\]"),
        ("training.result.epochs_completed", -1, "epochs_completed is -1"),
        ("training", "mnist", r"training is \"mnist\", expected an object"),
        ("preprocessing", 3, "preprocessing is 3"),
    ],
)
def test_training_section_types_are_checked(run, where, value, match):
    refused(edit(run, where, value), match)


def test_evaluate_with_a_numeric_data_spec_is_one_line(run):
    """Guards: `training.data: 12345` crashed `vaekit evaluate` with a traceback."""
    result = CliRunner().invoke(app, ["evaluate", str(edit(run, "training.data", 12345))])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "training.data is 12345" in lines[0], lines


# -- 6. the training state --------------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model = table_model()
    opt = torch.optim.Adam(model.parameters())
    model.decode(model.encode(torch.randn(4, 3)).mean).mean.sum().backward()
    opt.step()
    state = {"optimizer": opt.state_dict(), "rng": torch.Generator().get_state(), "train_state": {"epoch": 1}}
    save_checkpoint(tmp_path, model.state_dict(), state)
    return tmp_path


def rewrite(run: Path, tensors=None, state=None, metadata=None) -> None:
    """Rewrite the checkpoint with other tensors and/or another state record (a JSON text)."""
    file = run / "training_state" / "checkpoint.safetensors"
    old = load_file(file)
    tensors = old if tensors is None else tensors
    meta = {"state": state} if state is not None else metadata
    save_file(tensors, file, metadata=meta)


def load_refused(run: Path, match: str) -> None:
    start = time.perf_counter()
    with pytest.raises(BundleError, match=match) as info:
        load_checkpoint(run)
    assert time.perf_counter() - start < 2.0 and "\n" not in str(info.value)


def test_checkpoint_round_trip_still_works(checkpoint):
    weights, state = load_checkpoint(checkpoint)
    assert set(weights) == set(table_model().state_dict()) and state["train_state"] == {"epoch": 1}
    assert set(state["optimizer"]["state"]) == set(range(len(list(table_model().parameters()))))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metadata": None}, "its header has no state record"),
        ({"metadata": {"format": "pt"}}, "its header has no state record"),
        ({"state": "{not json"}, "not valid JSON"),
        ({"state": "[1, 2]"}, r"its state record is \[1, 2\], expected an object"),
        ({"state": '"text"'}, "expected an object"),
        ({"state": "[" * 100_000}, "nested 100000 levels deep"),
        ({"state": '{"a": {"__tensor__": "state/missing"}}'}, 'refers to a tensor "state/missing" that it does not'),
        ({"state": '{"a": {"__tensor__": 5}}'}, "refers to a tensor 5"),
        ({"state": '{"a": {"__tensor__": "model/encoder.net.0.weight"}}'}, "refers to a tensor"),
        ({"state": '{"a": {"__tensor__": "state/x", "b": 1}}'}, "refers to a tensor"),
        ({"state": '{"a": {"#int:zero": 1}}'}, 'malformed integer key "#int:zero"'),
        ({"state": '{"a": {"#int:' + "9" * 5000 + '": 1}}'}, "malformed integer key"),
    ],
)
def test_a_tampered_state_record_is_refused(checkpoint, kwargs, match):
    """Guards: no metadata gave TypeError, unknown tensor references KeyError, deep nesting RecursionError."""
    rewrite(checkpoint, **kwargs)
    load_refused(checkpoint, match)


def test_tampered_checkpoint_tensors_are_refused(checkpoint):
    tensors = load_file(checkpoint / "training_state" / "checkpoint.safetensors")
    state = json.dumps({"n": 1})
    rewrite(checkpoint, {"state/x": torch.zeros(1)}, state)
    load_refused(checkpoint, "it holds no model weights")
    rewrite(checkpoint, {**tensors, "model/decoder.net.0.weight": torch.zeros(0, 8)}, state)
    load_refused(checkpoint, "the weight decoder.net.0.weight is empty")
    rewrite(checkpoint, {**tensors, "model/decoder.net.0.bias": torch.full((8,), float("nan"))}, state)
    load_refused(checkpoint, "the weight decoder.net.0.bias holds NaN/inf values")


def test_a_damaged_checkpoint_file_only_ever_raises_bundle_error(checkpoint):
    """Flipped bytes anywhere in the file, or a cut: a BundleError or a clean load, nothing else."""
    file = checkpoint / "training_state" / "checkpoint.safetensors"
    data = file.read_bytes()
    rng = np.random.default_rng(0)
    cases = [data[: len(data) // 2], data[:7], b""]
    for pos in rng.integers(0, min(len(data), 4000), 40):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        cases.append(bytes(flipped))
    for case in cases:
        file.write_bytes(case)
        try:
            load_checkpoint(checkpoint)
        except BundleError as e:
            assert "\n" not in str(e)


# -- 7. the anomaly calibration ---------------------------------------------------------------------------------
def calibration() -> dict:
    scores = torch.arange(99, dtype=torch.float64)
    return conformal.Calibration.fit(scores, 0.05, "iwae", 10, 0, data="table.csv", split="all").to_dict()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"fpr": -0.1}, "fpr must be a number strictly between 0 and 1"),
        ({"fpr": "0.05"}, "fpr must be a number"),
        ({"fpr": True}, "fpr must be a number"),
        ({"scores": "123"}, "scores must be a list of finite numbers"),
        ({"scores": [1, "a"]}, "scores must be a list of finite numbers"),
        ({"scores": [1.0, None]}, "scores must be a list of finite numbers"),
        ({"scores": []}, "fewer scores than its fpr needs"),
        ({"scores": [*range(98, -1, -1)]}, "scores must be sorted ascending"),
        ({"threshold": 1.0}, "threshold does not fit the scores and fpr"),
        ({"threshold": "high"}, "threshold must be a finite number"),
        ({"method": "magic"}, "method must be one of"),
        ({"method": "elbo"}, "iw_samples must be given for iwae scores only"),
        ({"iw_samples": 2.5}, "iw_samples must be a positive integer"),
        ({"iw_samples": 0}, "iw_samples must be a positive integer"),
        ({"seed": "x"}, "seed must be"),
        ({"seed": 2**70}, "seed must be"),
        ({"n": 5}, "n differs"),
        ({"data": 7}, "data and split must be text"),
        ({"format_version": "1"}, "format_version must be 1"),
    ],
)
def test_a_damaged_calibration_is_refused(change, match):
    """Guards: scores "123" were read as [1, 2, 3], a string fpr as a number, a tampered threshold was used."""
    d = {**calibration(), **change}
    with pytest.raises(BundleError, match=f"anomaly.json is not a valid anomaly calibration .*{match}"):
        conformal.Calibration.from_dict(d, "anomaly.json")


def test_a_valid_calibration_round_trips():
    d = calibration()
    assert conformal.Calibration.from_dict(json.loads(json.dumps(d))).to_dict() == d


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{}", r"not a valid anomaly calibration \(method must be"),
        ("[]", r"not a valid anomaly calibration \(a JSON object was expected\)"),
        ("{nope", "not valid JSON"),
        ("[" * 100_000, "nested 100000 levels deep"),
        (json.dumps({**calibration(), "format_version": 7}), "newer vaekit"),
    ],
)
def test_a_damaged_anomaly_json_refuses_the_load(run, text, match):
    (run / "anomaly.json").write_text(text)
    refused(run, match)


# -- bundles written by earlier releases keep loading ----------------------------------------------------------
@pytest.mark.parametrize("which", ["table", "image"])
def test_december_2026_bundles_keep_loading_and_giving_the_same_outputs(which):
    model = vaekit.load(FIXTURES / which)
    expected = np.load(FIXTURES / which / "expected.npz")
    got = model.reconstruct(torch.from_numpy(expected["input"]))
    np.testing.assert_allclose(got.numpy(), expected["reconstruct"], rtol=1e-5, atol=1e-5)


def test_december_2026_training_state_keeps_loading(tmp_path):
    weights, state = load_checkpoint(FIXTURES / "table")
    assert set(weights) == set(vaekit.load(FIXTURES / "table").state_dict())
    assert {"optimizer", "rng", "train_state"} <= set(state) and state["train_state"]["epoch"] == 2
    run = shutil.copytree(FIXTURES / "table", tmp_path / "table")
    assert vaekit.load(run).run_config["training"]["result"]["epochs_completed"] == 2

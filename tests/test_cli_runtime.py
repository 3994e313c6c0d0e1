"""The CLI's process-wide behaviour: one line for any failure (a bug too), --debug, --threads, light imports."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import types

import pytest
import typer
from typer.testing import CliRunner

import vaekit
from vaekit._runtime import set_threads
from vaekit.cli import common
from vaekit.cli.app import app
from vaekit.errors import DataError

cli_app = importlib.import_module("vaekit.cli.app")  # the module (vaekit.cli.app is the Typer app)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HEAVY = ("torch", "pandas", "matplotlib")


def stderr_lines(result) -> list[str]:
    return [line for line in ANSI.sub("", result.stderr).splitlines() if line.strip()]


@pytest.fixture
def failing_workflow(monkeypatch):
    """`vaekit report RUN` calls ``vaekit.workflows.report.report`` first: make it raise the exception given."""
    fake = types.ModuleType("vaekit.workflows.report")

    def install(error: BaseException) -> None:
        def boom(*args, **kwargs):
            raise error

        fake.report = fake.stored_evaluation = boom
        monkeypatch.setitem(sys.modules, "vaekit.workflows.report", fake)

    monkeypatch.delenv("VAEKIT_DEBUG", raising=False)
    return install


def test_a_bug_in_a_command_is_one_line_and_exit_1(failing_workflow, tmp_path):
    failing_workflow(ValueError("shapes do not\nmatch"))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = stderr_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: internal error while running `vaekit report` (ValueError: shapes do not match)")
    assert "--debug or VAEKIT_DEBUG=1" in lines[0]
    assert "Traceback" not in result.output


def test_the_line_names_the_command_as_typed():
    from vaekit.cli.molecules import optimize

    assert common._command_name(optimize) == "molecules optimize"
    from vaekit.cli.anomaly import anomaly_score

    assert common._command_name(anomaly_score) == "anomaly score"


@pytest.mark.parametrize("how", ["env", "option"])
def test_debug_prints_the_traceback(failing_workflow, tmp_path, monkeypatch, how):
    failing_workflow(ValueError("shapes do not match"))
    if how == "env":
        monkeypatch.setenv("VAEKIT_DEBUG", "1")
    result = CliRunner().invoke(app, [*(["--debug"] if how == "option" else []), "report", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "in boom" in result.stderr  # the frame that raised
    assert stderr_lines(result)[-1].startswith("error: internal error")


def test_debug_off_again_on_the_next_invocation(failing_workflow, tmp_path):
    """--debug is remembered per invocation, not for the rest of the process."""
    failing_workflow(ValueError("x"))
    CliRunner().invoke(app, ["--debug", "report", str(tmp_path)])
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert "Traceback" not in result.stderr and len(stderr_lines(result)) == 1


@pytest.mark.parametrize("error", [MemoryError(), type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory.")])
def test_out_of_memory_is_one_line(failing_workflow, tmp_path, error):
    failing_workflow(error)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: out of memory while running `vaekit report`"), lines


def test_user_errors_still_exit_2(failing_workflow, tmp_path):
    failing_workflow(DataError("column 'age' is missing"))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert stderr_lines(result) == ["error: column 'age' is missing"]


def test_typer_exits_and_usage_errors_pass_through_friendly():
    """friendly() must not report typer's own Exit (a RuntimeError) or BadParameter as internal errors."""
    toy = typer.Typer()

    @toy.command()
    @common.friendly
    def run(code: int = 0, bad: bool = False) -> None:
        if bad:
            raise typer.BadParameter("must be even")
        raise typer.Exit(code)

    assert CliRunner().invoke(toy, ["--code", "3"]).exit_code == 3
    result = CliRunner().invoke(toy, ["--bad"])
    assert result.exit_code == 2 and "must be even" in result.output and "internal error" not in result.output


def test_a_bug_outside_any_command_is_one_line(monkeypatch, capsys):
    """main() is the last resort for what friendly() does not wrap (here: the root callback)."""

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.delenv("VAEKIT_DEBUG", raising=False)
    monkeypatch.setattr(cli_app, "set_root_options", broken)
    monkeypatch.setattr(sys, "argv", ["vaekit", "report", "somewhere"])
    with pytest.raises(SystemExit) as exit_info:
        cli_app.main()
    assert exit_info.value.code == 1
    lines = [line for line in ANSI.sub("", capsys.readouterr().err).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: internal error (KeyError: 'oops')"), lines


# -- --threads ---------------------------------------------------------------------------------------------------
@pytest.fixture
def threads_seen(monkeypatch, failing_workflow):
    seen: list[int | None] = []
    monkeypatch.setattr(common, "set_threads", seen.append)
    monkeypatch.delenv("VAEKIT_THREADS", raising=False)
    failing_workflow(DataError("stop here"))
    return seen


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [([], None, None), (["--threads", "3"], None, 3), ([], "4", 4), (["--threads", "2"], "4", 2)],
)
def test_root_threads_option_and_env_reach_the_command(threads_seen, tmp_path, monkeypatch, args, env, expected):
    if env is not None:
        monkeypatch.setenv("VAEKIT_THREADS", env)
    result = CliRunner().invoke(app, [*args, "report", str(tmp_path)])
    assert result.exit_code == 2, result.output  # the fake workflow's DataError: the command ran
    assert threads_seen == [expected]


def test_a_commands_own_threads_wins(threads_seen):
    toy = typer.Typer()

    @toy.command()
    @common.friendly
    def run(threads: common.ThreadsOpt = None) -> None:
        pass

    common.set_root_options(threads=3)
    try:
        assert CliRunner().invoke(toy, ["--threads", "1"]).exit_code == 0
        assert CliRunner().invoke(toy, []).exit_code == 0
        assert CliRunner().invoke(toy, ["--threads", "0"]).exit_code == 2  # at least 1
    finally:
        common.set_root_options()
    assert threads_seen == [1, 3]


def test_bad_threads_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_THREADS", "many")
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    text = " ".join(ANSI.sub("", result.output).replace("│", " ").split())  # unwrapped from typer's box
    assert result.exit_code == 2 and "Invalid value for '--threads' (env var: 'VAEKIT_THREADS')" in text, text


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "2", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_set_threads_sets_torchs_thread_count():
    code = (
        "import sys; from vaekit._runtime import set_threads; set_threads(None); "
        "print('torch' in sys.modules); set_threads(1); import torch; print(torch.get_num_threads())"
    )
    assert run_python(code).split() == ["False", "1"]  # None leaves torch alone (and unimported)
    with pytest.raises(ValueError, match="at least 1"):
        set_threads(0)


# -- light imports -----------------------------------------------------------------------------------------------
def heavy_imports(code: str) -> list[str]:
    """Which of torch/pandas/matplotlib ``code`` left imported, run in a fresh interpreter."""
    out = run_python(f"{code}\nimport sys\nprint('heavy:', *(m for m in {HEAVY!r} if m in sys.modules))")
    return out.splitlines()[-1].split()[1:]


def test_import_vaekit_is_light():
    assert heavy_imports("import vaekit, vaekit.models, vaekit.models.presets, vaekit.cli") == []


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["anomaly", "score", "--help"]])
def test_help_is_light(args):
    code = (
        f"import sys; sys.argv = ['vaekit', *{args!r}]\n"
        "from vaekit.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code"
    )
    assert heavy_imports(code) == []


def test_python_m_vaekit_help_imports_no_torch():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vaekit", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "Commands" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import")}
    assert "vaekit.cli.app" in imported  # the check sees vaekit's own imports
    assert not imported & set(HEAVY)


def test_public_names_still_resolve():
    from vaekit import VAE, load
    from vaekit.models.module import PRESETS
    from vaekit.training import TrainConfig, train
    from vaekit.vae import VAE as Vae
    from vaekit.vae import load_model

    assert VAE is Vae and load is load_model and vaekit.PRESETS is PRESETS
    assert vaekit.train is train and vaekit.TrainConfig is TrainConfig
    for name in vaekit.__all__:
        assert getattr(vaekit, name) is not None
        assert name in dir(vaekit)
    assert vaekit.models.ModelConfig is vaekit.ModelConfig
    with pytest.raises(AttributeError, match="no attribute 'VAEE'"):
        vaekit.VAEE  # noqa: B018
    with pytest.raises(AttributeError):
        vaekit.models.nothing  # noqa: B018


# -- presets -----------------------------------------------------------------------------------------------------
def test_every_preset_has_one_line_of_help():
    from vaekit.models import PRESET_NOTES, PRESET_TRAINING, PRESETS

    assert list(PRESET_NOTES) == list(PRESETS)  # same names, same order
    assert set(PRESET_TRAINING) <= set(PRESETS)
    assert all(note and "\n" not in note for note in PRESET_NOTES.values())
    text = common.preset_help()
    for name, note in PRESET_NOTES.items():
        assert f"{name}: {note}" in text

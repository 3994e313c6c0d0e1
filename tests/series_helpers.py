"""Series the time-series tests train on (imported by them; pytest puts this folder on the import path)."""

import numpy as np


def sine_waves(n: int, seed: int, *, steps: int = 32, noise: float = 0.05) -> np.ndarray:
    """n sine waves of period 16 steps with random phases and Gaussian noise of std ``noise``, (n, steps, 1)
    float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    return (np.sin(2 * np.pi * t / 16 + phase) + noise * rng.normal(size=(n, steps)))[..., None].astype(np.float32)


def run_cli(*args) -> tuple[int, str]:
    """(exit code, output) of ``vaekit ARGS``, run in this process."""
    from typer.testing import CliRunner

    from vaekit.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def one_line(text: str) -> bool:
    """True for a one-line error message."""
    return text.strip().count("\n") == 0 and "error" in text

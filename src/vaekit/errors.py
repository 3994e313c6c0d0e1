"""User-facing errors: one clear line, never a traceback.

Every problem caused by the user's input (a bad path, a wrong shape, a folder that is not a run) raises a
subclass of :class:`VaekitError`; the CLI prints its message on one line and exits with a non-zero status.
"""


class VaekitError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class DataError(VaekitError):
    """Data that cannot be read or does not match what the model expects."""


class BundleError(VaekitError):
    """A run folder that is missing, incomplete, unsafe or belongs to another run."""


class TrainingError(VaekitError):
    """Training that cannot go on (for example a loss that keeps diverging)."""

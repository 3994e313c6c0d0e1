"""The one place that says how to install what the molecules subpackage needs."""

from __future__ import annotations

from ..errors import VaekitError

#: RDKit, selfies and fcd_torch come with the extra; MOSES ships in molsets, whose pinned dependencies do not build,
#: so it is installed on its own without them (vaekit reads its data files by path and never imports it).
INSTALL_EXTRA = "pip install -c constraints.txt 'vaekit[molecules]'"
INSTALL_MOSES = "pip install --no-deps molsets==0.3.1"


def missing(what: str, command: str) -> VaekitError:
    """The one-line error for a missing optional dependency."""
    return VaekitError(f"{what} is not installed; install it with: {command}")

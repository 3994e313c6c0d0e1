"""Process-wide settings for the command line (never applied on ``import vaekit``)."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def reuse_freed_memory(mmap_mb: int = 32, trim_mb: int = 256) -> bool:
    """Serve allocations below ``mmap_mb`` from the heap and keep up to ``trim_mb`` of freed heap for reuse.

    glibc's adaptive default maps and unmaps each multi-megabyte tensor afresh; after a pass with other tensor
    sizes, importance sampling (K=1000, 10,000 MNIST images) spent 21 s of 52 s in the kernel zeroing those
    pages (10 M page faults); with this setting, 0.4 s. Returns False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_mb << 20) and mallopt(_M_TRIM_THRESHOLD, trim_mb << 20))


def set_threads(n: int | None) -> None:
    """Use ``n`` CPU threads for torch's operators (and for its inter-op pool while that can still be set).

    ``None`` leaves torch's own choice: ``OMP_NUM_THREADS`` when that is set (torch reads it at start-up), else
    one thread per core. With other work on the cores, fewer threads can be several times faster. Torch is
    imported only when ``n`` is given."""
    if n is None:
        return
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    import torch

    torch.set_num_threads(n)
    try:  # settable once, and only before any inter-op parallel work has started
        torch.set_num_interop_threads(n)
    except RuntimeError:
        pass

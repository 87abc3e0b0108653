"""The C allocator tuned for tensor work: freed memory kept for the next step.

Training and scoring allocate and free the same large tensors (tens of MB: a batch's
messages, their gradients) thousands of times. glibc's ``malloc`` serves blocks above
its mmap threshold (128 KiB, growing up to 32 MiB) with fresh ``mmap`` pages, and
gives memory freed at the top of its heap back above its trim threshold, so each
step faults the same memory in again, page by page: at 1,000,000 interactions a
fifth of a mini-batch epoch was the kernel's (``bench/allocator.py``). With larger
thresholds the heap keeps what a step freed for the next one.

:func:`tune_allocator` sets them once per process (``kgdistill``'s CLI does, before
any work). It leaves the allocator alone where the user chose its settings
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), where
``KGDISTILL_MALLOC=default``, and off glibc (macOS, musl).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Mapping

# blocks below this come from the heap and are reused after a free (above it: mmap,
# unmapped on free, as before); the 5,000,000-interaction shop's largest per-node
# tensors (250,000 x 1,024 half floats, 512 MB) stay above it
MMAP_THRESHOLD = 256 * 2**20
# free memory at the top of the heap kept rather than given back to the system
TRIM_THRESHOLD = 512 * 2**20

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD = -3

# the user's own allocator settings: kept as they are
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
OPT_OUT = "KGDISTILL_MALLOC"


def tune_allocator(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Set glibc's mmap and trim thresholds (:data:`MMAP_THRESHOLD`,
    :data:`TRIM_THRESHOLD`) for this process; returns what was set (empty: nothing,
    see the module docstring)."""
    environ = os.environ if environ is None else environ
    if environ.get(OPT_OUT, "").strip().lower() == "default":
        return {}
    if any(name in environ for name in USER_SETTINGS):
        return {}
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return {}
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return {}
    applied = {}
    for option, name, value in (
        (_M_MMAP_THRESHOLD, "mmap_threshold", MMAP_THRESHOLD),
        (_M_TRIM_THRESHOLD, "trim_threshold", TRIM_THRESHOLD),
    ):
        if libc.mallopt(ctypes.c_int(option), ctypes.c_int(value)) == 1:
            applied[name] = value
    return applied

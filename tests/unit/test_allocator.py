"""kgdistill.allocator: freed tensor memory is reused, not faulted in again each step."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from kgdistill.allocator import MMAP_THRESHOLD, OPT_OUT, TRIM_THRESHOLD, tune_allocator

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# a 200 MB array written, then freed, as a training step's messages are: how much of
# it the process gave back to the system (resident MB before the free less after)
_STEP = """
import json, sys
import numpy as np
from kgdistill.allocator import tune_allocator
applied = tune_allocator() if sys.argv[1] == "tuned" else {}
def resident_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024
x = np.ones(50 * 2**20, np.float32)
held = resident_mb()
del x
print(json.dumps({"given_back_mb": held - resident_mb(), "applied": applied}))
"""


def _step(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUN"))}
    env.pop(OPT_OUT, None)
    out = subprocess.run(
        [sys.executable, "-c", _STEP, mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only (this machine's libc is another)")
def test_tuned_memory_freed_by_a_step_stays_for_the_next_one() -> None:
    """By default glibc unmaps a freed 200 MB block (the next step faults it in again,
    page by page); tuned, the heap keeps it."""
    default, tuned = _step("default"), _step("tuned")
    assert tuned["applied"] == {"mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}
    assert default["given_back_mb"] > 150, default
    assert tuned["given_back_mb"] < 20, tuned


@pytest.mark.parametrize(
    "environ",
    [
        {OPT_OUT: "default"},
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"MALLOC_TRIM_THRESHOLD_": "0"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
    ],
    ids=["opt-out", "mmap-threshold", "trim-threshold", "tunables"],
)
def test_the_users_own_allocator_settings_are_left_alone(environ) -> None:
    assert tune_allocator(environ) == {}

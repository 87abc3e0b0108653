"""torch's intra-op threads, set for a while: work that runs side by side in Python
threads (blocks of customers scored, FastRP's column blocks) gives each its share
rather than letting every one start a full OpenMP team beside the others."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n``, and back (threads started meanwhile take
    ``n`` when they first run an op)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)

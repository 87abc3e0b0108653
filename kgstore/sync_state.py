"""The sync job's state in Neo4j: a watermark and a lock, on one ``(:SyncState {name})`` node.

The watermark is the database time up to which changes have been rescored; it
moves only after a sync succeeds. The lock keeps two syncs from running at
once: it is taken in one write transaction (``cypher/sync/acquire_lock.cypher``
takes the node's write lock before it checks), carries a holder
(``host:pid:nonce``) and an expiry, and is renewed while a sync works. A holder
that crashed stops blocking once its lock expires, or at once when the next
sync runs on the same host and sees the holder's process is gone.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kgstore.connection import QueryRunner
from kgstore.cypher import statement

__all__ = [
    "LockHeld",
    "LockLost",
    "SyncState",
    "acquire_lock",
    "advance_watermark",
    "db_now",
    "fence",
    "holder_is_dead",
    "new_holder",
    "read_state",
    "release_lock",
    "renew_lock",
    "rewind_watermark",
]


class LockHeld(RuntimeError):
    """Another sync holds the lock."""

    def __init__(self, name: str, holder: str, expires: datetime | None) -> None:
        until = f" until {expires.isoformat(timespec='seconds')}" if expires else ""
        super().__init__(
            f"another sync holds the lock '{name}' ({holder}{until}); "
            "try again later, or wait for it with --wait"
        )
        self.name = name
        self.holder = holder
        self.expires = expires


class LockLost(RuntimeError):
    """The lock expired and another sync took it while this one worked."""


@dataclass(frozen=True)
class SyncState:
    name: str
    watermark: datetime | None = None
    last_run_id: str | None = None
    last_success_at: datetime | None = None
    last_rescored: int | None = None
    lock_holder: str | None = None
    lock_expires: datetime | None = None


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


def new_holder() -> str:
    """``host:pid:nonce``: who holds the lock, readable in the graph and in messages."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True only when ``holder`` ran on this host and its process is gone."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def db_now(runner: QueryRunner) -> datetime:
    now: datetime = _native(runner.read_value(statement("sync/now")))
    return now


def read_state(runner: QueryRunner, name: str) -> SyncState:
    rows = runner.read(statement("sync/read_state"), name=name)
    if not rows:
        return SyncState(name=name)
    row = {key: _native(value) for key, value in rows[0].items()}
    row.pop("now", None)
    return SyncState(name=name, **row)


def acquire_lock(
    runner: QueryRunner,
    name: str,
    holder: str,
    ttl_s: float,
    *,
    wait_s: float | None = None,
    poll_s: float = 2.0,
) -> SyncState:
    """Take the lock or raise :class:`LockHeld`; with ``wait_s``, keep trying that long.

    Returns the state as it was when the lock was taken (its watermark included).
    """
    runner.write(statement("sync/constraint_sync_state"))
    deadline = None if wait_s is None else time.monotonic() + wait_s
    stale: str | None = None
    while True:
        row = runner.write_tx(_acquire(name, holder, ttl_s, stale))
        if row["acquired"]:
            return read_state(runner, name)
        current = str(row["holder"])
        if stale != current and holder_is_dead(current):
            stale = current  # take it over at once, but only if it still holds it
            continue
        if deadline is None or time.monotonic() >= deadline:
            raise LockHeld(name, current, _native(row["expires"]))
        time.sleep(max(0.05, min(poll_s, deadline - time.monotonic())))


def _acquire(name: str, holder: str, ttl_s: float, stale: str | None) -> Any:
    query = statement("sync/acquire_lock")

    def work(tx: Any) -> dict[str, Any]:
        record = tx.run(
            query, name=name, holder=holder, ttl_ms=int(ttl_s * 1000), stale_holder=stale
        ).single(strict=True)
        return dict(record.data())

    return work


def _write(runner: QueryRunner, which: str, /, **params: Any) -> list[dict[str, Any]]:
    """The rows statement ``which`` returns, run in one managed write transaction."""
    query = statement(which)
    rows: list[dict[str, Any]] = runner.write_tx(lambda tx: tx.run(query, **params).data())
    return rows


def renew_lock(runner: QueryRunner, name: str, holder: str, ttl_s: float) -> None:
    """Extend the lock; raises :class:`LockLost` when it is no longer ours."""
    if not _write(runner, "sync/renew_lock", name=name, holder=holder, ttl_ms=int(ttl_s * 1000)):
        raise LockLost(
            f"the sync lock '{name}' expired and another sync took it; this run stops without "
            "advancing the watermark (raise sync.lock_ttl_s if runs take longer)"
        )


def fence(name: str, holder: str, ttl_s: float) -> Callable[[Any], None]:
    """A check for the start of each write transaction: renew the lock inside it, or raise
    :class:`LockLost`. Renewing writes the SyncState node, so the transaction holds that
    node's write lock until it commits: no other sync can take the lock over in between,
    and a writer that was paused past the lock's expiry writes nothing more."""
    query = statement("sync/renew_lock")

    def check(tx: Any) -> None:
        if not tx.run(query, name=name, holder=holder, ttl_ms=int(ttl_s * 1000)).data():
            raise LockLost(
                f"the sync lock '{name}' passed to another holder while this run was writing; "
                "it stops here (the next sync rescores what it left)"
            )

    return check


def rewind_watermark(
    runner: QueryRunner, name: str, holder: str, watermark: datetime, run_id: str
) -> bool:
    """Move the watermark back to ``watermark`` if it is later (while we hold the lock)."""
    rows = _write(
        runner,
        "sync/rewind_watermark",
        name=name,
        holder=holder,
        watermark=watermark,
        run_id=run_id,
    )
    return bool(rows and rows[0]["rewound"])


def release_lock(runner: QueryRunner, name: str, holder: str) -> bool:
    rows = _write(runner, "sync/release_lock", name=name, holder=holder)
    return bool(rows and rows[0]["released"])


def advance_watermark(
    runner: QueryRunner, name: str, holder: str, watermark: datetime, run_id: str, rescored: int
) -> None:
    """Move the watermark after a successful sync; raises :class:`LockLost` if not ours."""
    rows = _write(
        runner,
        "sync/advance_watermark",
        name=name,
        holder=holder,
        watermark=watermark,
        run_id=run_id,
        rescored=rescored,
    )
    if not rows or not rows[0]["advanced"]:
        raise LockLost(
            f"the sync lock '{name}' is no longer ours; the watermark stays where it was"
        )

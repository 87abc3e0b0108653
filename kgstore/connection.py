"""The one boundary to the database: connection settings and the QueryRunner.

Everything above this module takes and returns plain data. Statements come from
`cypher/` by name (:mod:`kgstore.cypher`); values travel only as parameters.
Writes run in managed transactions (``execute_write``), which the driver
retries on transient errors, so every write statement must be idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

USER = "neo4j"  # Neo4j's built-in user, also the managed server's


class Neo4jConnectionError(RuntimeError):
    """Neo4j could not be reached or refused the credentials; the message never holds a password."""


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str
    user: str = USER
    password: str = field(default="", repr=False)
    database: str | None = None
    managed: bool = False  # the project-managed server, not one NEO4J_URI names

    def describe(self) -> str:
        where = f"{self.uri} (database {self.database})" if self.database else self.uri
        return f"{where} as {self.user}" + (" [project-managed]" if self.managed else "")


def env_settings(environ: Mapping[str, str] | None = None) -> Neo4jSettings | None:
    """The Neo4j that ``NEO4J_URI``/``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE``
    name; None when ``NEO4J_URI`` is unset (the application then uses its managed server)."""
    env = os.environ if environ is None else environ
    if not env.get("NEO4J_URI"):
        return None
    return Neo4jSettings(
        uri=_uri_without_credentials(env["NEO4J_URI"]),
        user=env.get("NEO4J_USER", USER),
        password=env.get("NEO4J_PASSWORD", ""),
        database=env.get("NEO4J_DATABASE") or None,
    )


def _uri_without_credentials(uri: str) -> str:
    """``uri`` when it carries no user or password; else a :class:`Neo4jConnectionError`
    that shows it with the credentials masked (they would end up in messages and logs)."""
    scheme, sep, rest = uri.partition("://")
    authority = rest.split("/", 1)[0]
    if sep and "@" in authority:
        masked = f"{scheme}://***@{authority.rsplit('@', 1)[1]}"
        raise Neo4jConnectionError(
            f"NEO4J_URI ({masked}) must not carry a user or password: set NEO4J_URI to "
            "the address alone and NEO4J_USER and NEO4J_PASSWORD beside it"
        )
    return uri


def env_lines(settings: Neo4jSettings) -> list[str]:
    """``export`` lines for shell scripts (``eval "$(kgdistill neo4j env)"``)."""
    import shlex

    lines = [
        f"export NEO4J_URI={shlex.quote(settings.uri)}",
        f"export NEO4J_USER={shlex.quote(settings.user)}",
        f"export NEO4J_PASSWORD={shlex.quote(settings.password)}",
    ]
    if settings.database:
        lines.append(f"export NEO4J_DATABASE={shlex.quote(settings.database)}")
    return lines


class QueryRunner:
    """Runs named or literal statements against one Neo4j database.

    Use as a context manager; :meth:`connect` verifies the connection first and
    turns driver failures into :class:`Neo4jConnectionError`.
    """

    def __init__(self, driver: Driver, settings: Neo4jSettings) -> None:
        self._driver = driver
        self.settings = settings

    @classmethod
    def connect(cls, settings: Neo4jSettings) -> QueryRunner:
        # Notifications (unknown labels or property keys on a fresh database, ...) are
        # advice for query authors, printed as warnings by the driver: the server sends
        # none to kgdistill. Errors are exceptions and still raise.
        driver = GraphDatabase.driver(
            settings.uri,
            auth=(settings.user, settings.password),
            connection_timeout=15,
            notifications_min_severity="OFF",
        )
        try:
            driver.verify_connectivity()
        except AuthError as exc:
            driver.close()
            raise Neo4jConnectionError(
                f"Neo4j at {settings.uri} refused user '{settings.user}': wrong password? "
                "Check NEO4J_USER/NEO4J_PASSWORD (or `kgdistill neo4j env`)."
            ) from exc
        except (ServiceUnavailable, OSError, Neo4jError) as exc:
            driver.close()
            hint = (
                "start it with `kgdistill neo4j start`"
                if settings.managed
                else "check NEO4J_URI and that the server is up"
            )
            raise Neo4jConnectionError(
                f"cannot reach Neo4j at {settings.uri}: {type(exc).__name__}; {hint}."
            ) from exc
        return cls(driver, settings)

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> QueryRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def driver(self) -> Driver:
        return self._driver

    def session(self, **kwargs: Any) -> Any:
        return self._driver.session(database=self.settings.database, **kwargs)

    # -- reads -----------------------------------------------------------------
    def read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """All records as dicts (for small results; extraction streams instead)."""
        records, _, _ = self._driver.execute_query(
            query,
            params,
            database_=self.settings.database,
            routing_="r",
        )
        return [record.data() for record in records]

    def read_value(self, query: str, **params: Any) -> Any:
        rows = self.read(query, **params)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    def read_record(self, query: str, **params: Any) -> dict[str, Any] | None:
        """The first record as ``{key: value}``, values as the driver decoded them (no
        ``record.data()`` pass, which is slow on large lists), or None when there is none.
        For statements that return one record of column lists per page."""
        with self.session(default_access_mode="READ") as session:
            result = session.run(query, params)
            record = result.single(strict=False)
            return (
                None if record is None else dict(zip(record.keys(), record.values(), strict=True))
            )

    def stream(self, query: str, **params: Any) -> Iterator[list[Any]]:
        """Yield each record's values as a list, in a read transaction that stays open
        while the caller iterates (for paging through large results)."""
        with self.session(default_access_mode="READ") as session:
            result = session.run(query, params)
            for record in result:
                yield list(record.values())

    # -- writes ----------------------------------------------------------------
    def write(self, query: str, **params: Any) -> dict[str, int]:
        """One statement in one managed write transaction; returns the update counters."""

        def work(tx: ManagedTransaction) -> dict[str, int]:
            summary = tx.run(query, params).consume()
            return _counters(summary.counters)

        with self.session() as session:
            return dict(session.execute_write(work))

    def write_tx(self, work: Callable[[ManagedTransaction], Any]) -> Any:
        """Run ``work`` in one managed (retried) write transaction. It must be idempotent."""
        with self.session() as session:
            return session.execute_write(work)

    def write_batches(
        self,
        query: str,
        rows: Sequence[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 5000,
        params: Mapping[str, Any] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> dict[str, int]:
        """``UNWIND $rows AS row ...`` in batches, one managed transaction per batch.

        ``on_batch(n)`` is called after each committed batch (for progress bars).
        Returns the summed update counters.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        totals: dict[str, int] = {}
        extra = dict(params or {})

        def work(tx: ManagedTransaction, batch: list[Mapping[str, Any]]) -> dict[str, int]:
            summary = tx.run(query, {**extra, "rows": batch}).consume()
            return _counters(summary.counters)

        with self.session() as session:
            batch: list[Mapping[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= batch_size:
                    _add(totals, session.execute_write(work, batch))
                    if on_batch:
                        on_batch(len(batch))
                    batch = []
            if batch:
                _add(totals, session.execute_write(work, batch))
                if on_batch:
                    on_batch(len(batch))
        return totals

    def write_streams(
        self,
        streams: Sequence[Iterable[tuple[str, Mapping[str, Any], int]]],
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> dict[str, int]:
        """Run several streams of write transactions at once, one session and thread each.

        Each stream yields ``(query, params, rows)``: one managed transaction, and how
        many rows it stands for (passed to ``on_batch`` after it commits). Within a stream
        transactions run in order. The caller keeps the streams out of each other's way
        (disjoint nodes, or locks taken in one order); a deadlock that happens anyway is a
        transient error the driver retries. The first failure stops every stream before its
        next transaction and is raised; what committed stays, so statements must be
        idempotent and a rerun completes the work. Returns the summed update counters.
        """
        import threading
        from concurrent.futures import ThreadPoolExecutor

        totals: dict[str, int] = {}
        lock = threading.Lock()
        failed = threading.Event()

        def work(tx: ManagedTransaction, query: str, params: Mapping[str, Any]) -> dict[str, int]:
            return _counters(tx.run(query, dict(params)).consume().counters)

        def run(stream: Iterable[tuple[str, Mapping[str, Any], int]]) -> None:
            try:
                with self.session() as session:
                    for query, params, rows in stream:
                        if failed.is_set():
                            return
                        counters = session.execute_write(work, query, params)
                        with lock:
                            _add(totals, counters)
                            if on_batch:
                                on_batch(rows)
            except BaseException:
                failed.set()
                raise

        if len(streams) == 1:
            run(streams[0])
            return totals
        with ThreadPoolExecutor(max_workers=len(streams), thread_name_prefix="write") as pool:
            futures = [pool.submit(run, stream) for stream in streams]
        for future in futures:
            future.result()  # the first failure, in stream order
        return totals


def _counters(counters: Any) -> dict[str, int]:
    names = (
        "nodes_created",
        "nodes_deleted",
        "relationships_created",
        "relationships_deleted",
        "properties_set",
        "constraints_added",
        "indexes_added",
    )
    return {name: int(getattr(counters, name, 0)) for name in names}


def _add(totals: dict[str, int], more: Mapping[str, int]) -> None:
    for key, value in more.items():
        totals[key] = totals.get(key, 0) + value

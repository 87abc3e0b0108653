"""Provision and run a local Neo4j Community server as a plain Java process.

No Docker needed: Maven copies the Neo4j 5.26 Community jars from Maven Central
into a per-user cache once (``neo4j/pom.xml`` names them); every later start
reuses the cache offline. Each *instance* (``default`` for users, one per test
session) has its own config, data, logs, pid file and generated password.
The application owns this life cycle; :mod:`kgstore` only connects, with the
settings :func:`settings_from_env` gives it.

Layout under the cache (``~/.cache/kgdistill`` or ``$KGDISTILL_HOME``)::

    neo4j/<version>/lib/*.jar        the server, shared by every instance
    neo4j/<version>/lib/.complete    written last: a cache without it is redone
    neo4j/instances/<name>/conf/neo4j.conf
    neo4j/instances/<name>/{data,logs,run}/
    neo4j/instances/<name>/password  0600, generated on first start
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import overload

from kgstore.connection import USER, Neo4jSettings, env_settings
from kgstore.resources import cache_home, project_path

DEFAULT_VERSION = "5.26.30"
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"

# What bin/neo4j passes to the JVM for Neo4j 5 on Java 17 (from its default neo4j.conf);
# the server's collector is [neo4j] gc's (see collector()), the importer's G1.
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)

GC_FLAGS = {"g1": "-XX:+UseG1GC", "parallel": "-XX:+UseParallelGC"}
_BOLT_WAITS = ("thread_pool", "connection")  # internal.server.bolt.<wait>_shutdown_wait_time

Progress = Callable[[str], None]

# Servers this process started, kept so that the Popen objects live as long as
# the servers do (stop() reaps them; nothing warns about a "still running" child).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class Neo4jServerError(RuntimeError):
    """The local server could not be provisioned, started or stopped; the message says why."""


class _Below:
    """A path below another path of the configuration: ``_Below("instance_dir", "conf")``
    reads as ``cfg.instance_dir / "conf"``."""

    def __init__(self, base: str, *parts: str) -> None:
        self.base = base
        self.parts = parts

    @overload
    def __get__(self, cfg: None, owner: type | None = None) -> _Below: ...
    @overload
    def __get__(self, cfg: ServerConfig, owner: type | None = None) -> Path: ...
    def __get__(self, cfg: ServerConfig | None, owner: type | None = None) -> Path | _Below:
        if cfg is None:
            return self
        base: Path = getattr(cfg, self.base)
        return base.joinpath(*self.parts)


@dataclass(frozen=True)
class ServerConfig:
    """The project-managed Neo4j server. Ports bind to 127.0.0.1 only."""

    version: str = DEFAULT_VERSION
    instance: str = "default"
    bolt_port: int = 7687
    http_port: int = 7474
    # "auto": sized from this machine's memory as ``neo4j-admin server
    # memory-recommendation`` sizes them, for ``memory_share`` of the memory (kgdistill
    # trains on the same machine, so the server does not get it all).
    heap: str = "auto"
    pagecache: str = "auto"
    memory_share: float = 0.5
    start_timeout_s: float = 180.0
    stop_timeout_s: float = 30.0
    # The server ends a transaction running longer than this, or waiting longer for a lock
    # ("0" turns it off): a stuck or runaway statement cannot hold locks for ever. A load
    # or write-back batch takes seconds; the schema step waits up to 300 s for indexes.
    transaction_timeout: str = "15m"
    lock_timeout: str = "2m"
    home: str = ""  # empty: the per-user cache (see kgstore.resources.cache_home)
    instances_dir: str = ""  # empty: <home>/neo4j/instances (tests use a temporary folder)
    # Server plugins (e.g. Graph Data Science): jars linked into <instance>/plugins and
    # put on the classpath, and the neo4j.conf lines they need (``key=value``).
    plugins: tuple[str, ...] = ()
    extra_conf: tuple[str, ...] = ()
    # The server JVM's garbage collector: "g1" (Neo4j's default), "parallel", or "auto":
    # parallel on a machine with at most 2 cores, where G1's concurrent threads take CPU
    # from the server's own work (bench/server_gc.py compares the two), else g1.
    gc: str = "auto"

    def __post_init__(self) -> None:
        for port in (self.bolt_port, self.http_port):
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} is out of range 1..65535")
        if self.bolt_port == self.http_port:
            raise ValueError("bolt_port and http_port must differ")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.instance):
            raise ValueError(f"instance name {self.instance!r}: letters, digits, '.', '_', '-'")
        for name in ("heap", "pagecache"):
            if not re.fullmatch(r"\d+[kmgKMG]?|auto", getattr(self, name)):
                raise ValueError(
                    f"{name} {getattr(self, name)!r}: expected a size like 512m or 2g, or auto"
                )
        if not 0.05 <= self.memory_share <= 1.0:
            raise ValueError(f"memory_share {self.memory_share}: expected 0.05 to 1.0")
        if self.gc not in GC_FLAGS and self.gc != "auto":
            raise ValueError(f"gc {self.gc!r}: expected one of auto, {', '.join(GC_FLAGS)}")
        for line in self.extra_conf:
            if not re.fullmatch(r"[a-z][a-z0-9_.]*=[^\r\n]*", line):
                raise ValueError(f"extra_conf line {line!r}: expected one 'setting.name=value'")
        for name in ("transaction_timeout", "lock_timeout"):
            if not re.fullmatch(r"\d+(ms|s|m|h)?", getattr(self, name)):
                raise ValueError(
                    f"{name} {getattr(self, name)!r}: expected a duration like 90s, 15m or 0"
                )

    # -- paths (the layout in this module's docstring) -------------------------
    @property
    def root(self) -> Path:
        return Path(self.home).expanduser() if self.home else cache_home()

    @property
    def dist_dir(self) -> Path:
        return self.root / "neo4j" / self.version

    @property
    def instance_dir(self) -> Path:
        base = (
            Path(self.instances_dir).expanduser()
            if self.instances_dir
            else self.root / "neo4j" / "instances"
        )
        return base / self.instance

    lib_dir = _Below("dist_dir", "lib")
    plugins_dir = _Below("instance_dir", "plugins")
    conf_dir = _Below("instance_dir", "conf")
    data_dir = _Below("instance_dir", "data")
    logs_dir = _Below("instance_dir", "logs")
    pid_file = _Below("instance_dir", "run", "neo4j.pid")
    password_file = _Below("instance_dir", "password")
    console_log = _Below("logs_dir", "console.log")

    @property
    def bolt_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def http_uri(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    bolt_uri: str
    http_uri: str
    provisioned: bool
    data_dir: Path
    logs_dir: Path
    version: str | None = None
    edition: str | None = None
    already_running: bool = False

    def lines(self) -> list[str]:
        state = "running" if self.running else "not running"
        out = [f"Neo4j: {state}"]
        if self.running:
            out.append(f"  version:  {self.version or '?'} ({self.edition or '?'} edition)")
            out.append(f"  pid:      {self.pid}")
        out += [
            f"  bolt:     {self.bolt_uri}",
            f"  http:     {self.http_uri}",
            f"  data:     {self.data_dir}",
            f"  logs:     {self.logs_dir}",
            f"  server jars: {'cached' if self.provisioned else 'not provisioned yet'}",
        ]
        return out


# -- prerequisites -------------------------------------------------------------
def java_version(java: str = "java") -> int:
    """The major version of ``java``; raises Neo4jServerError when it is missing or unusable."""
    exe = shutil.which(java)
    if exe is None:
        raise Neo4jServerError(
            "Java is not installed (no 'java' on PATH). Neo4j 5.26 needs Java 17 or 21: "
            "install OpenJDK 17 (Debian/Ubuntu: apt-get install openjdk-17-jre-headless), "
            "or point NEO4J_URI at a Neo4j you already run."
        )
    proc = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        raise Neo4jServerError(f"cannot read the Java version from '{exe} -version'")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < 17:
        raise Neo4jServerError(
            f"Java {major} found at {exe}, but Neo4j 5.26 needs Java 17 or 21: install "
            "OpenJDK 17 and put it first on PATH (or set JAVA_HOME/bin first on PATH)."
        )
    return major


def is_provisioned(cfg: ServerConfig) -> bool:
    return (cfg.lib_dir / ".complete").is_file()


def provision(cfg: ServerConfig, progress: Progress = print) -> Path:
    """Copy the Neo4j server jars into the cache with Maven, once. Returns the lib dir.

    Maven writes into a temporary folder that is renamed into place and marked
    complete only after success, so a failed or interrupted download never
    leaves a cache that looks complete.
    """
    if is_provisioned(cfg):
        return cfg.lib_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError(
            "Maven is not installed (no 'mvn' on PATH); it fetches the Neo4j server once. "
            "Install it (Debian/Ubuntu: apt-get install maven) or point NEO4J_URI at a "
            "Neo4j you already run."
        )
    pom = project_path("neo4j/pom.xml")
    cfg.dist_dir.mkdir(parents=True, exist_ok=True)
    staging = cfg.dist_dir / f"lib.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"Fetching Neo4j {cfg.version} Community from Maven Central (once) ...")
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"-Dneo4j.version={cfg.version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise Neo4jServerError(_maven_failure(proc.stdout + proc.stderr, cfg.version))
    jars = sorted(p.name for p in staging.glob("*.jar"))
    if not any(name.startswith(f"neo4j-{cfg.version}") for name in jars):
        shutil.rmtree(staging, ignore_errors=True)
        raise Neo4jServerError(f"Maven finished but neo4j-{cfg.version}.jar is missing")
    shutil.rmtree(cfg.lib_dir, ignore_errors=True)
    staging.rename(cfg.lib_dir)
    (cfg.lib_dir / ".complete").write_text("\n".join(jars) + "\n", encoding="utf-8")
    progress(f"Neo4j {cfg.version}: {len(jars)} jars cached in {cfg.lib_dir}")
    return cfg.lib_dir


def _maven_failure(output: str, version: str) -> str:
    tail = "\n".join(line for line in output.splitlines() if "ERROR" in line)[-1500:]
    network = re.search(
        r"Could not transfer|UnknownHost|Unknown host|Connection refused|Network is unreachable|"
        r"timed out|Connect to .* failed|resolution will not be reattempted",
        output,
    )
    if re.search(r"Could not find artifact|could not be resolved: .*neo4j", output) and not network:
        return f"Maven Central has no Neo4j {version}: check the version.\n{tail}"
    if network:
        return (
            "cannot reach Maven Central to fetch the Neo4j server (needed once; later starts "
            "work offline). Check the network or a proxy in ~/.m2/settings.xml, or point "
            f"NEO4J_URI at a Neo4j you already run.\n{tail}"
        )
    return f"Maven failed to fetch Neo4j {version}:\n{tail}"


# -- configuration and secrets -------------------------------------------------
def ensure_password(cfg: ServerConfig) -> str:
    """The instance's password, generated on first use and stored 0600."""
    path = cfg.password_file
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password


def read_password(cfg: ServerConfig) -> str:
    if not cfg.password_file.is_file():
        raise Neo4jServerError(
            f"no password for the Neo4j instance '{cfg.instance}' yet: run "
            "`kgdistill neo4j start` first, or set NEO4J_URI/NEO4J_PASSWORD"
        )
    return cfg.password_file.read_text(encoding="utf-8").strip()


def settings_from_env(
    cfg: ServerConfig | None = None, environ: Mapping[str, str] | None = None
) -> Neo4jSettings:
    """``NEO4J_URI``/``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE`` when set, else the
    project-managed server described by ``cfg``."""
    env = os.environ if environ is None else environ
    named = env_settings(env)
    if named is not None:
        return named
    cfg = cfg or ServerConfig()
    database = env.get("NEO4J_DATABASE") or None
    return Neo4jSettings(
        uri=cfg.bolt_uri, user=USER, password=read_password(cfg), database=database, managed=True
    )


def write_conf(cfg: ServerConfig) -> Path:
    cfg.conf_dir.mkdir(parents=True, exist_ok=True)
    for d in (cfg.data_dir, cfg.logs_dir, cfg.pid_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    conf = cfg.conf_dir / "neo4j.conf"
    conf.write_text(
        "\n".join(
            [
                "# Written by kgdistill on every start; edit ServerConfig instead.",
                "server.default_listen_address=127.0.0.1",
                "server.default_advertised_address=127.0.0.1",
                f"server.bolt.listen_address=127.0.0.1:{cfg.bolt_port}",
                f"server.bolt.advertised_address=127.0.0.1:{cfg.bolt_port}",
                "server.http.enabled=true",
                f"server.http.listen_address=127.0.0.1:{cfg.http_port}",
                "server.https.enabled=false",
                "dbms.security.auth_enabled=true",
                f"server.memory.heap.initial_size={cfg.heap}",
                f"server.memory.heap.max_size={cfg.heap}",
                f"server.memory.pagecache.size={cfg.pagecache}",
                "dbms.memory.transaction.total.max=0",
                f"db.transaction.timeout={cfg.transaction_timeout}",
                f"db.lock.acquisition.timeout={cfg.lock_timeout}",
                f"server.directories.data={cfg.data_dir}",
                f"server.directories.logs={cfg.logs_dir}",
                f"server.directories.run={cfg.pid_file.parent}",
                f"server.directories.plugins={cfg.plugins_dir}",
                f"server.directories.import={cfg.instance_dir / 'import'}",
                "dbms.usage_report.enabled=false",
                "db.logs.query.enabled=OFF",
                # By the time Bolt's thread pools end, the databases have been stopped and
                # checkpointed; their default 5 s waits each made every stop take 10 s
                # (Netty's idle event loops), and a bulk first load waits for that stop
                *(f"internal.server.bolt.{wait}_shutdown_wait_time=0s" for wait in _BOLT_WAITS),
                *cfg.extra_conf,
                "",
            ]
        ),
        encoding="utf-8",
    )
    _link_plugins(cfg)
    return conf


def _link_plugins(cfg: ServerConfig) -> None:
    """Make ``<instance>/plugins`` hold exactly ``cfg.plugins`` (as links to the jars)."""
    cfg.plugins_dir.mkdir(parents=True, exist_ok=True)
    wanted = {Path(jar).name: Path(jar) for jar in cfg.plugins}
    for old in cfg.plugins_dir.glob("*.jar"):
        if old.name not in wanted or not old.is_symlink() or old.readlink() != wanted[old.name]:
            old.unlink()
    for name, jar in wanted.items():
        if not jar.is_file():
            raise Neo4jServerError(f"plugin jar {jar} does not exist")
        link = cfg.plugins_dir / name
        if not link.is_symlink():
            link.symlink_to(jar)


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit if lower
    (a container)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            total = min(total, int(limit))
    return total


def sized_memory(
    cfg: ServerConfig, progress: Progress = print, memory: int | None = None
) -> ServerConfig:
    """``cfg`` with an ``auto`` heap and page cache replaced by what ``neo4j-admin server
    memory-recommendation`` recommends for ``memory_share`` of ``memory`` (default: this
    machine's); sizes set in the configuration stay as they are."""
    if "auto" not in (cfg.heap, cfg.pagecache):
        return cfg
    budget_mb = max(512, int((memory or machine_memory()) * cfg.memory_share) >> 20)
    recommended = _memory_recommendation(cfg, budget_mb)
    heap = recommended["server.memory.heap.max_size"] if cfg.heap == "auto" else cfg.heap
    pagecache = cfg.pagecache
    if pagecache == "auto":
        pagecache = recommended["server.memory.pagecache.size"]
    progress(
        f"Neo4j memory: heap {heap}, page cache {pagecache} (for {budget_mb:,} MB, "
        f"memory_share {cfg.memory_share} of this machine; [neo4j] heap/pagecache set them)"
    )
    return replace(cfg, heap=heap, pagecache=pagecache)


def _memory_recommendation(cfg: ServerConfig, budget_mb: int) -> dict[str, str]:
    """The ``server.memory.*`` lines neo4j-admin recommends for ``budget_mb``."""
    with tempfile.TemporaryDirectory(prefix="kgdistill-memrec-") as home:
        (Path(home) / "neo4j.conf").touch()
        proc = subprocess.run(
            [
                "java",
                "-cp",
                f"{cfg.lib_dir}/*",
                ADMIN_CLASS,
                "server",
                "memory-recommendation",
                f"--memory={budget_mb}m",
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, NEO4J_HOME=home, NEO4J_CONF=home),
            check=False,
        )
    lines = dict(
        line.split("=", 1) for line in proc.stdout.splitlines() if line.startswith("server.memory.")
    )
    wanted = ("server.memory.heap.max_size", "server.memory.pagecache.size")
    if proc.returncode != 0 or not all(
        re.fullmatch(r"\d+[kmg]?", lines.get(k, "")) for k in wanted
    ):
        raise Neo4jServerError(
            "neo4j-admin server memory-recommendation failed; set [neo4j] heap and pagecache "
            f'(e.g. heap = "1g"):\n{(proc.stdout + proc.stderr)[-800:]}'
        )
    return lines


def classpath(cfg: ServerConfig) -> str:
    """The server's Java classpath: the Neo4j jars, then the plugins' (whose extensions
    Neo4j finds only on the classpath, not in the plugins folder)."""
    return os.pathsep.join([f"{cfg.lib_dir}/*", *cfg.plugins])


def _set_initial_password(cfg: ServerConfig, password: str) -> None:
    """``neo4j-admin dbms set-initial-password``, the password passed in a 0600 argument
    file (``@file``, picocli's AtFiles, which neo4j-admin expands) and never on the
    command line, where every user of the machine can read it (``ps``)."""
    env = dict(os.environ, NEO4J_HOME=str(cfg.instance_dir), NEO4J_CONF=str(cfg.conf_dir))
    args_file = cfg.instance_dir / ".initial-password.args"
    args_file.unlink(missing_ok=True)
    fd = os.open(args_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        # "--" ends the options: a generated password may start with "-" (1 in 64), which
        # neo4j-admin otherwise takes for an unknown option ("Missing required parameter").
        fh.write(f"--\n{password}\n")
    try:
        proc = subprocess.run(
            [
                "java",
                "-cp",
                f"{cfg.lib_dir}/*",
                ADMIN_CLASS,
                "dbms",
                "set-initial-password",
                f"@{args_file}",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    finally:
        args_file.unlink(missing_ok=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).replace(password, "***")
        raise Neo4jServerError(f"setting the initial Neo4j password failed:\n{output[-1500:]}")


# -- processes and ports -------------------------------------------------------
_PF_EXITING = 0x4  # task flag: the thread is in do_exit()
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)
PORT_RELEASE_S = 10.0  # how long start() waits for a killed server's ports


def _pid_in_file(cfg: ServerConfig) -> int | None:
    """The pid the pid file names, whatever that process is now."""
    try:
        return int(cfg.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _read_pid(cfg: ServerConfig) -> int | None:
    """The pid of this instance's server while it runs (not once it is being killed)."""
    pid = _pid_in_file(cfg)
    if pid is None or _proc_state(pid) != "live" or not _is_our_process(pid, cfg):
        return None
    return pid


def _is_our_process(pid: int, cfg: ServerConfig) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the pid file
    args = [a.decode(errors="replace") for a in cmdline]
    if MAIN_CLASS not in args:
        return False
    # A zombie has an empty cmdline; a reused pid runs something else.
    return any(a == f"--home-dir={cfg.instance_dir}" for a in args)


def _proc_state(pid: int) -> str:
    """``live``, ``exiting`` (killed or exiting, some thread still ending) or ``gone``.

    SIGKILL turns a JVM's main thread into a zombie at once (empty cmdline, state Z),
    while its other threads are still ending and, until the last one has, hold the
    process's sockets. So only a process whose threads have all ended (or a zombie
    that nobody reaped, which holds nothing) is gone. Whether it is on its way out is
    read from the main thread (and a pending SIGKILL): a running JVM ends worker
    threads of its own all the time.
    """
    if not Path("/proc/self").is_dir():  # no /proc (macOS): alive or not
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "gone"
        except PermissionError:
            pass
        return "live"
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    threads = {tid: _thread_stat(pid, tid) for tid in tids}
    if all(t is None or t[0] in "ZX" for t in threads.values()):
        return "gone"
    pending = re.findall(r"^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$", status, re.MULTILINE)
    killed = any(int(mask, 16) & _SIGKILL_BIT for mask in pending)
    main = threads.get(str(pid))
    if killed or main is None or main[0] in "ZX" or main[1] & _PF_EXITING:
        return "exiting"
    return "live"


def _thread_stat(pid: int, tid: str) -> tuple[str, int] | None:
    """A thread's state letter and flags from /proc; None when it has just ended."""
    try:
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[6])


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status when it is our child, so that it leaves no zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _gone(pid: int) -> bool:
    _reap(pid)
    return _proc_state(pid) == "gone"


def _wait_until(done: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


def _ports_in_use(cfg: ServerConfig) -> list[tuple[int, str]]:
    return [
        (port, name)
        for port, name in ((cfg.bolt_port, "Bolt"), (cfg.http_port, "HTTP"))
        if port_in_use(port)
    ]


def _port_error(port: int, name: str) -> Neo4jServerError:
    return Neo4jServerError(
        f"{name} port {port} on 127.0.0.1 is already in use by another process. "
        f"Stop that process or choose another port (kgdistill neo4j start "
        f"--{name.lower()}-port N, or KGDISTILL_NEO4J__{name.upper()}_PORT)."
    )


def clear_after_crash(cfg: ServerConfig, progress: Progress = print) -> None:
    """Make way for a new server after this instance's last one was killed or crashed.

    The pid file outlives a server that did not stop through :func:`stop`. When the
    process it names is still ending, wait (up to ``stop_timeout_s``) until it has,
    then (up to :data:`PORT_RELEASE_S`) until its ports are free, saying so; then the
    pid file goes. A pid file that names a process already gone, or a reused pid
    running another program, is simply stale: a busy port is then somebody else's,
    and :func:`start` says so at once.
    """
    pid = _pid_in_file(cfg)
    if pid is None or _read_pid(cfg) is not None:
        return
    if not _gone(pid) and _proc_state(pid) == "exiting":
        progress(
            f"Neo4j (pid {pid}) of instance '{cfg.instance}' was killed and is still "
            f"exiting; waiting up to {cfg.stop_timeout_s:.0f}s for it to end ..."
        )
        if not _wait_until(lambda: _gone(pid), cfg.stop_timeout_s):
            raise Neo4jServerError(
                f"the killed Neo4j (pid {pid}) of instance '{cfg.instance}' has not ended "
                f"after {cfg.stop_timeout_s:.0f}s; see `ps -L -p {pid}`, and start again "
                "once it is gone."
            )
        if _ports_in_use(cfg):
            ports = " and ".join(f"{name} {port}" for port, name in _ports_in_use(cfg))
            progress(f"Waiting up to {PORT_RELEASE_S:.0f}s for ports {ports} to be released ...")
            _wait_until(lambda: not _ports_in_use(cfg), PORT_RELEASE_S)
    cfg.pid_file.unlink(missing_ok=True)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(cfg: ServerConfig, lines: int = 30) -> str:
    chunks = []
    for path in (cfg.logs_dir / "neo4j.log", cfg.console_log):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            chunks.append(f"--- {path} (last {len(text)} lines)\n" + "\n".join(text))
    return "\n".join(chunks) or "(no server log was written)"


# -- life cycle ----------------------------------------------------------------
def status(cfg: ServerConfig, query_version: bool = True) -> ServerStatus:
    pid = _read_pid(cfg)
    version = edition = None
    if pid is not None and query_version:
        with contextlib.suppress(Exception):
            version, edition = _components(cfg, read_password(cfg))
    return ServerStatus(
        running=pid is not None,
        pid=pid,
        bolt_uri=cfg.bolt_uri,
        http_uri=cfg.http_uri,
        provisioned=is_provisioned(cfg),
        data_dir=cfg.data_dir,
        logs_dir=cfg.logs_dir,
        version=version,
        edition=edition,
    )


def _components(cfg: ServerConfig, password: str, timeout: float = 5.0) -> tuple[str, str]:
    from neo4j import GraphDatabase

    # A plain session, not execute_query: no retries (and no retry warnings) while
    # the server is still coming up.
    with (
        GraphDatabase.driver(
            cfg.bolt_uri, auth=(USER, password), connection_timeout=timeout
        ) as driver,
        driver.session(database="system") as session,
    ):
        records = list(
            session.run(
                "CALL dbms.components() YIELD name, versions, edition "
                "RETURN name, versions[0] AS version, edition"
            )
        )
    for record in records:
        if record["name"] == "Neo4j Kernel":
            return str(record["version"]), str(record["edition"])
    raise RuntimeError("dbms.components() returned no Neo4j Kernel")


def start(cfg: ServerConfig, progress: Progress = print) -> ServerStatus:
    """Start the server in the background and wait until it answers ``RETURN 1`` over Bolt.

    Starting a running server returns its status with ``already_running=True``.
    """
    current = status(cfg)
    if current.running:
        return ServerStatus(**{**current.__dict__, "already_running": True})
    clear_after_crash(cfg, progress)
    for port, name in _ports_in_use(cfg):
        raise _port_error(port, name)
    java_version()
    provision(cfg, progress)
    cfg = sized_memory(cfg, progress)
    write_conf(cfg)
    fresh = not (cfg.data_dir / "databases").exists()
    password = ensure_password(cfg)
    if fresh:
        _set_initial_password(cfg, password)
    gc = collector(cfg.gc)
    progress(f"Starting Neo4j {cfg.version} on {cfg.bolt_uri} (garbage collector {gc}) ...")
    return _await_answer(cfg, _launch(cfg), password)


def collector(gc: str, cores: int | None = None) -> str:
    """The garbage collector ``[neo4j] gc`` names, ``auto`` resolved: parallel on at most
    2 ``cores`` (default: this process's usable cores), else g1."""
    if gc != "auto":
        return gc
    if cores is None:
        usable = getattr(os, "sched_getaffinity", None)  # not on macOS
        cores = len(usable(0)) if usable else (os.cpu_count() or 1)
    return "parallel" if cores <= 2 else "g1"


def server_command(cfg: ServerConfig) -> list[str]:
    """The ``java`` command line that runs the server of ``cfg`` (heap already sized)."""
    heap = cfg.heap.lower()
    gc = GC_FLAGS[collector(cfg.gc)]
    flags = [gc if flag == GC_FLAGS["g1"] else flag for flag in _JVM_FLAGS]
    return [
        "java",
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *flags,
        "-cp",
        classpath(cfg),
        MAIN_CLASS,
        f"--home-dir={cfg.instance_dir}",
        f"--config-dir={cfg.conf_dir}",
    ]


def _launch(cfg: ServerConfig) -> subprocess.Popen[bytes]:
    cmd = server_command(cfg)
    with open(cfg.console_log, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cfg.instance_dir,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    cfg.pid_file.write_text(f"{proc.pid}\n")
    return proc


def _await_answer(cfg: ServerConfig, proc: subprocess.Popen[bytes], password: str) -> ServerStatus:
    """Wait until the server just launched answers over Bolt; stop it if it never does."""
    deadline = time.monotonic() + cfg.start_timeout_s
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _CHILDREN.pop(proc.pid, None)
            cfg.pid_file.unlink(missing_ok=True)
            raise Neo4jServerError(
                f"Neo4j exited during start-up (exit code {proc.returncode}).\n{log_tail(cfg)}"
            )
        if not port_in_use(cfg.bolt_port):
            time.sleep(0.3)
            continue
        try:
            version, edition = _components(cfg, password, timeout=2.0)
        except Exception as exc:  # not up yet: the driver raises several kinds
            if _is_auth_failure(exc):  # up, but our password is not its password
                _terminate(proc.pid, cfg.stop_timeout_s)
                cfg.pid_file.unlink(missing_ok=True)
                raise Neo4jServerError(_auth_failure_message(cfg)) from None
            last_error = type(exc).__name__
            time.sleep(0.5)
            continue
        return ServerStatus(
            running=True,
            pid=proc.pid,
            bolt_uri=cfg.bolt_uri,
            http_uri=cfg.http_uri,
            provisioned=True,
            data_dir=cfg.data_dir,
            logs_dir=cfg.logs_dir,
            version=version,
            edition=edition,
        )
    _terminate(proc.pid, cfg.stop_timeout_s)
    cfg.pid_file.unlink(missing_ok=True)
    raise Neo4jServerError(
        f"Neo4j did not answer on {cfg.bolt_uri} within {cfg.start_timeout_s:.0f}s "
        f"(last error: {last_error}); it was stopped.\n{log_tail(cfg)}"
    )


def _is_auth_failure(exc: BaseException) -> bool:
    """The server answered and refused the credentials (unauthorized, or rate-limited)."""
    from neo4j.exceptions import AuthError

    code = str(getattr(exc, "code", "") or "")
    return isinstance(exc, AuthError) or code.startswith("Neo.ClientError.Security.")


def _auth_failure_message(cfg: ServerConfig) -> str:
    return (
        f"Neo4j on {cfg.bolt_uri} refused the password in {cfg.password_file} (it was lost or "
        "replaced after the database was created); the server was stopped. To keep the "
        "data, put the original password back in that file; to start over, delete "
        f"{cfg.data_dir} (this deletes the graph) and the password file, then run "
        "`kgdistill neo4j start` again, which sets a new password"
    )


def stop(cfg: ServerConfig, progress: Progress = print) -> bool:
    """Stop gracefully (SIGTERM), then forcefully after ``stop_timeout_s``. False if not running."""
    pid = _read_pid(cfg)
    if pid is None:
        clear_after_crash(cfg, progress)  # a killed server still ending: let it end
        return False
    progress(f"Stopping Neo4j (pid {pid}) ...")
    _terminate(pid, cfg.stop_timeout_s)
    cfg.pid_file.unlink(missing_ok=True)
    return True


def _terminate(pid: int, timeout: float) -> None:
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            child.kill()
            child.wait(10)
        return

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_until(lambda: _gone(pid), timeout, step=0.2):
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_until(lambda: _gone(pid), 10.0)


# -- bulk import -----------------------------------------------------------------
DEFAULT_DATABASE = "neo4j"  # the one database of a Community server


def import_database(
    cfg: ServerConfig, arguments: Sequence[str], progress: Progress = print
) -> None:
    """``neo4j-admin database import full`` of ``arguments`` (its ``--nodes`` and
    ``--relationships`` options) into this instance's database, while its server is
    stopped. The old database's files are set aside first and put back when the import
    fails, so a failed import leaves the database as it was."""
    if _read_pid(cfg) is not None:
        raise Neo4jServerError(
            f"the Neo4j of instance '{cfg.instance}' is running; stop it before an import"
        )
    stores = [cfg.data_dir / part / DEFAULT_DATABASE for part in ("databases", "transactions")]
    aside = cfg.data_dir / f".before-import-{os.getpid()}"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir(parents=True)
    for n, store in enumerate(stores):
        if store.exists():
            store.rename(aside / str(n))
    progress(f"Importing into the Neo4j database of instance '{cfg.instance}' ...")
    proc = subprocess.run(
        _import_command(cfg, arguments),
        capture_output=True,
        text=True,
        env=dict(os.environ, NEO4J_HOME=str(cfg.instance_dir), NEO4J_CONF=str(cfg.conf_dir)),
        cwd=cfg.instance_dir,
        check=False,
    )
    if proc.returncode != 0:
        for n, store in enumerate(stores):
            shutil.rmtree(store, ignore_errors=True)
            if (aside / str(n)).exists():
                (aside / str(n)).rename(store)
        shutil.rmtree(aside, ignore_errors=True)
        output = proc.stdout + proc.stderr
        raise Neo4jServerError(
            f"neo4j-admin database import failed (exit code {proc.returncode}); the database "
            f"was left as it was:\n{output[-2000:]}"
        )
    shutil.rmtree(aside, ignore_errors=True)


def _import_command(cfg: ServerConfig, arguments: Sequence[str]) -> list[str]:
    """The importer's JVM gets the server's heap; its off-heap memory is held to the
    share of the machine kgdistill gives the server (the rest is for training)."""
    heap = cfg.heap.lower() if cfg.heap != "auto" else "1g"
    return [
        "java",
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        "-cp",
        f"{cfg.lib_dir}/*",
        ADMIN_CLASS,
        "database",
        "import",
        "full",
        "--overwrite-destination=true",
        "--bad-tolerance=0",
        "--strict=true",
        f"--max-off-heap-memory={round(cfg.memory_share * 100)}%",
        f"--report-file={cfg.logs_dir / 'import.report'}",
        *arguments,
        DEFAULT_DATABASE,
    ]


def cli_environment(cfg: ServerConfig) -> dict[str, str]:
    """The ``KGDISTILL_NEO4J__*`` variables under which ``kgdistill`` uses ``cfg``'s instance
    (for scripts and tests that run the CLI as a user does, against a private instance)."""
    names = ("bolt_port", "http_port", "instance", "instances_dir", "heap", "pagecache")
    return {f"KGDISTILL_NEO4J__{name.upper()}": str(getattr(cfg, name)) for name in names}

"""Relationships per second of a bulk first load against a transactional one, same shop.

    .venv/bin/python bench/bulk_load.py [--rows 1000000] [--keep DIR]

Writes the interactions-only shop of bench/load_memory.py (customers = rows/25, products =
rows/100, four interaction types over 30 days, seeded) in the CSV interchange format, then
loads it twice, one after the other, each into a fresh private managed instance (heap 2g)
and in its own ``kgdistill`` process as a user runs it: ``load csv --bulk`` (import files,
then ``neo4j-admin database import``), and ``load csv`` (batched transactions). Each rate
is the interaction relationships over the seconds spent writing them, as the load's
summary reports it (for --bulk: writing the import files plus the import; not the server's
restart nor the schema). The last line reads
``rows=N bulk_rels_per_s=X transactional_rels_per_s=Y`` (issue 13: bulk >= 100,000 at
5,000,000 rows on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import database
from bench.load_memory import add_shop_options, shop
from kgdistill import server


def run_load(directory: Path, env: dict[str, str], *flags: str) -> dict[str, Any]:
    """``kgdistill load csv --dir directory FLAGS --json``'s summary."""
    cmd = [sys.executable, "-m", "kgdistill", "load", "csv", "--dir", str(directory), "--json"]
    proc = subprocess.run([*cmd, *flags], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:])} {' '.join(flags)} failed:\n{proc.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def bulk(directory: Path) -> dict[str, Any]:
    """The bulk load into a private managed instance, stopped and removed after."""
    folder = tempfile.mkdtemp(prefix="kgdistill-bulkbench-")
    bolt, http = server.free_port(), server.free_port()
    cfg = server.ServerConfig(
        instance="bulk", bolt_port=bolt, http_port=http, heap="2g", instances_dir=folder
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env.update(server.cli_environment(cfg))
    try:
        return run_load(directory, env, "--bulk")
    finally:
        server.stop(cfg, progress=lambda m: None)
        shutil.rmtree(folder, ignore_errors=True)


def transactional(directory: Path) -> dict[str, Any]:
    with database("bulkbench-tx") as runner:
        s = runner.settings
        env = dict(os.environ, NEO4J_URI=s.uri, NEO4J_USER=s.user, NEO4J_PASSWORD=s.password)
        return run_load(directory, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shop_options(parser, 1_000_000)
    args = parser.parse_args()
    with shop(args) as directory:
        print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        fast = bulk(directory)
        print(f"bulk: {fast['seconds']:.1f}s in all; {'; '.join(fast['notes'])}", flush=True)
        slow = transactional(directory)
        print(f"transactional: {slow['seconds']:.1f}s in all", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"rows={args.rows} relationships={fast['plan']['interactions']} "
        f"bulk_rels_per_s={fast['rels_per_s']} transactional_rels_per_s={slow['rels_per_s']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

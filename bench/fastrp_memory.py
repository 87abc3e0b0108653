"""Memory and time of kgdistill's FastRP (``[structure]``) at shop sizes: dense vs blocked.

    .venv/bin/python bench/fastrp_memory.py [--interactions 1000000 5000000] [--dim 1024]
        [--workers 2]

For each size, two child processes each generate the interaction-only synthetic shop
of ``load synthetic --mode cf`` (customers = N/25, products = N/100, as bench/scale.py
sizes its shop) and compute the default FastRP vectors
(:func:`distill.structure.fastrp`): one with all columns at once (the dense path), one
in column blocks of ``FASTRP_BLOCK_BYTES`` (the path kgdistill takes when one dense
array would exceed ``FASTRP_DENSE_BYTES``) with one thread, and the blocked path again
with ``--workers`` threads propagating blocks side by side (what ``predict`` does
with its torch threads), each forced. Each child resets the
kernel's peak-RSS mark after building the shop (``/proc/self/clear_refs``), so the
figure is what FastRP adds on top of the graph it reads. The two results are checked
to agree (to float16's rounding: the blocked path holds its hops in float16; the
blocked ones exactly). One line per size and path:

    interactions=N path=dense|blocked|blocked_W_workers fastrp_s=X fastrp_peak_mb=X
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(n: int, dim: int, path: str, out: str) -> None:
    """Build the shop, reset the peak mark, run FastRP, save its first 1,000 rows of each."""
    from bench.predict_speed import cf_frame
    from distill.config import RunConfig
    from distill.structure import fastrp

    frame = cf_frame(max(n // 25, 1), max(n // 100, 1), n, seed=0)
    settings = {**RunConfig().structure.encoder_settings(), "dim": dim}
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = _status_mb("VmRSS")
    began = time.perf_counter()
    dense = path == "dense"
    workers = int(path.split("_")[1]) if path.startswith("blocked_") else 1
    c, p = fastrp(frame, **settings, dense_bytes=1 << 62 if dense else 0, workers=workers)
    seconds = time.perf_counter() - began
    peak = _status_mb("VmHWM") - before
    np.save(out, np.concatenate([c[:1000], p[:1000]]))
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument(
        "--workers", type=int, default=2, help="threads of the side-by-side blocked path"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n, path, out = args.child
        child(int(n), args.dim, path, out)
        return 0
    for n in args.interactions:
        with tempfile.TemporaryDirectory() as tmp:
            figures, rows = {}, {}
            paths = ["dense", "blocked"]
            paths += [f"blocked_{args.workers}_workers"] if args.workers > 1 else []
            for path in paths:
                out = str(Path(tmp) / f"{path}.npy")
                cmd = [sys.executable, __file__, "--dim", str(args.dim)]
                done = subprocess.run(
                    [*cmd, "--child", str(n), path, out], capture_output=True, text=True
                )
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
                figures[path] = json.loads(done.stdout.strip().splitlines()[-1])
                rows[path] = np.load(out)
                print(
                    f"interactions={n} path={path} "
                    f"fastrp_s={figures[path]['seconds']:.1f} "
                    f"fastrp_peak_mb={figures[path]['peak_mb']:.0f}",
                    flush=True,
                )
            gap = float(np.abs(rows["dense"] - rows["blocked"]).max())
            if gap > 2**-11:  # the blocked path holds its hops in float16
                print(f"dense and blocked vectors differ by {gap}", file=sys.stderr)
                return 1
            if any(not np.array_equal(rows["blocked"], rows[p]) for p in paths[2:]):
                print("blocks side by side changed the vectors", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

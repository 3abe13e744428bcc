"""Rows 1 and 2 for healthkit at an earlier commit and now, interleaved in one run.

    bench/.venv/bin/python -m bench.compare REV     (e.g. 71e06f3, the engine before the rewrite)

The earlier commit is checked out into a temporary git worktree; each contender runs under
uvicorn with that tree first on PYTHONPATH. Ratios are to one floor measured in the same run.
BENCH_ROUNDS (default 3) and BENCH_SECONDS set the rounds and each wrk run's length.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

from bench.run import ROOT, ROUNDS, serve, wrk

ROWS: dict[str, dict[str, object]] = {
    "1 check": {"checks": 1},
    "1 check, cached": {"checks": 1, "cached": True},
    "10 checks": {"checks": 10},
    "10 checks, cached": {"checks": 10, "cached": True},
}


def main() -> None:
    rev = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", old, rev], check=True)
        try:
            trees = {"old": old, "new": str(ROOT)}
            rps: dict[tuple[str, str, int], list[float]] = {}
            for _ in range(ROUNDS):
                os.environ["PYTHONPATH"] = f"{ROOT}:{ROOT / 'checks'}"
                with serve("floor") as (url, _pid):
                    wrk(url, 32, 1)
                    for connections in (1, 32):
                        rps.setdefault(("floor", "", connections), []).append(wrk(url, connections).rps)
                for name, tree in trees.items():
                    os.environ["PYTHONPATH"] = f"{tree}:{tree}/checks"
                    for row, settings in ROWS.items():
                        with serve("healthkit", **settings) as (url, _pid):
                            wrk(url, 32, 1)
                            for connections in (1, 32):
                                rps.setdefault((name, row, connections), []).append(wrk(url, connections).rps)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", old], check=False)
    print(f"| row | c=1 {rev} | c=1 now | c=32 {rev} | c=32 now |")
    print("|---|---|---|---|---|")
    for row in ROWS:
        cells = []
        for connections in (1, 32):
            floor = statistics.median(rps["floor", "", connections])
            for name in ("old", "new"):
                cells.append(f"{statistics.median(rps[name, row, connections]) / floor:.2f}")
        print(f"| {row} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")


if __name__ == "__main__":
    main()

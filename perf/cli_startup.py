"""How long ``featadapt --help`` and ``featadapt list`` take, each in a fresh
process, as a user types them (the target is under 2 s), and which of torch
and Avalanche they import (neither: only a run needs them).

    .venv/bin/python perf/cli_startup.py [--repeats 5]

Prints the median and the slowest wall time of each command, and its CPU
time (user + system), which other jobs on the machine skew less. For
comparison it also times ``import avalanche`` alone, once: what every
command paid when the package imported it first. A benchmark script, not a test:
its figures depend on the machine and its load.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMMANDS = {
    "featadapt --help": [str(BIN / "featadapt"), "--help"],
    "featadapt list": [str(BIN / "featadapt"), "list"],
    "featadapt compare --help": [str(BIN / "featadapt"), "compare", "--help"],
}
REFERENCE = [sys.executable, "-c", "import avalanche"]
_HEAVY = (
    "import sys\n"
    "from avalanche_featadapt.compare import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print([m for m in ('torch', 'avalanche') if m in sys.modules])"
)


def timed(argv):
    """Wall and CPU seconds of one run of ``argv``."""
    t0, c0 = time.perf_counter(), os.times()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    c1 = os.times()
    cpu = (c1.children_user - c0.children_user) + (
        c1.children_system - c0.children_system
    )
    return time.perf_counter() - t0, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':32} {'median s':>9} {'max s':>7} {'CPU s':>7}")
    for name, argv in COMMANDS.items():
        timed(argv)  # warm the file cache
        runs = [timed(argv) for _ in range(args.repeats)]
        walls = [w for w, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{name:32} {statistics.median(walls):9.2f} {max(walls):7.2f} "
            f"{cpu:7.2f}"
        )
    wall, cpu = timed(REFERENCE)  # once: it takes several seconds
    print(f"{'python -c import avalanche':32} {wall:9.2f} {'':7} {cpu:7.2f}")
    for argv in (["--help"], ["list"]):
        out = subprocess.run(
            [sys.executable, "-c", _HEAVY, *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.strip()
        print(
            f"featadapt {argv[0]} imports of torch and Avalanche: {out.splitlines()[-1]}"
        )


if __name__ == "__main__":
    main()

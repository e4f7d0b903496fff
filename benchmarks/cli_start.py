"""How long the `mbnn` command takes to start: prints JSON figures (seconds).

Runs each command line several times in a fresh interpreter and reports the
median wall time, with `python -c pass` as the floor every command pays.

    .venv/bin/python benchmarks/cli_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "mbnn --help": ["--help"],
    "mbnn stream --help": ["stream", "--help"],
    "mbnn train --help": ["train", "--help"],
}


def mbnn() -> list[str]:
    """The installed console script next to this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("mbnn")
    if script.is_file():
        return [str(script)]
    found = shutil.which("mbnn")
    return [found] if found else [sys.executable, "-m", "microbit_nn.host.cli"]


def time_once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per command (default 7; the median is reported)")
    a = ap.parse_args()
    if a.runs < 1:
        raise SystemExit("--runs must be at least 1")
    env_note = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "runs": a.runs}
    result = {}
    for label, args in COMMANDS.items():
        cmd = [sys.executable, *args] if label.startswith("python") else [*mbnn(), *args]
        time_once(cmd)  # warm the file cache: the first run measures the disk, not the import
        times = [time_once(cmd) for _ in range(a.runs)]
        result[label] = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3)}
    print(json.dumps({"cli_start": result, **env_note}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

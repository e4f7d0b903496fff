"""Wall time of `mbnn train DATA` with the automatic choice (cross-validation then
the final training), as a user runs it (a fresh process, imports included); prints JSON.

    .venv/bin/python benchmarks/train_time.py [--target v1|v2]

Cases: a CreateAI-sized project (tests/fixtures/createai/action-data.json: 3
gestures, 25 recordings) and 1,000 recordings (`synthetic:200`: 5 gestures x 200).
Targets (issue 12): at most 30 s and 3 minutes on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = (("createai_project", str(ROOT / "tests" / "fixtures" / "createai" / "action-data.json"), 30),
         ("1000_recordings", "synthetic:200", 180))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", default="v1", choices=["v1", "v2"])
    args = ap.parse_args()
    mbnn = str(Path(sys.executable).with_name("mbnn"))
    out = {"benchmark": "train_time", "target": args.target, "cpus": os.cpu_count(), "cases": []}
    for name, data, limit in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run([mbnn, "train", data, "--out", f"{tmp}/m", "--quiet", "--target", args.target],
                           check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - t
            report = json.loads(Path(f"{tmp}/m/report.json").read_text())
        sel = report["selection"]
        out["cases"].append({
            "case": name, "data": Path(data).name if "/" in data else data, "windows": report["dataset"]["windows"],
            "recordings": report["dataset"]["recordings"], "seconds": round(seconds, 1), "limit_seconds": limit,
            "within_limit": seconds <= limit, "cv_seconds": sel["seconds"], "final_train_seconds": report["train_seconds"],
            "folds": sel["folds"], "fold_by": sel["fold_by"], "cv_epochs": sel["plan"]["epochs"],
            "candidates": [c["name"] for c in sel["candidates"]], "winner": sel["winner"],
            "test_accuracy_int8": report["accuracy_int8"]})
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy of the model families, the automatic choice (V1 and V2) and a
CreateAI-like float baseline (train/baseline.py) on the same splits; prints JSON.

    .venv/bin/python benchmarks/accuracy.py [--seeds 0 2 3] [--no-v2]

Datasets: synthetic (held-out recordings, and new people: synthetic seed 1,
people the models never saw), CreateAI action-data -> its legacy test set,
and CreateAI action-data by 4-fold cross-validation over recordings.
The baseline trains on all non-test recordings of the same split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CREATEAI = ROOT / "tests" / "fixtures" / "createai"
NEW_PEOPLE_SEED = 1


def _baseline_acc(train_ds, tests: dict, seed: int) -> dict:
    from microbit_nn.train.baseline import Baseline

    b = Baseline(len(train_ds.classes), seed=seed).fit(train_ds)
    return {name: float((b.predict(ds.windows) == ds.labels).mean()) for name, ds in tests.items()}


def _aligned(ds, classes):
    """`ds` with labels indexing `classes` (case-insensitive)."""
    from microbit_nn.train.evaluate import map_classes

    ds.labels = map_classes(ds, classes)
    ds.classes = list(classes)
    return ds


def scenario(data: str, test_data: str | None, seed: int, variants) -> dict:
    from microbit_nn.export import reference
    from microbit_nn.host.cmd_train import train_to_dir
    from microbit_nn.train.datasets import load_dataset, split_by_group, subset

    ds = load_dataset(data, seed=seed)
    if test_data:
        tests = {"test": _aligned(load_dataset(test_data, seed=seed), ds.classes)}
        pool = ds
    else:
        _, _, test = split_by_group(ds, seed=seed)
        tests = {"test": test}
        if data.startswith("synthetic"):
            tests["new_people"] = load_dataset("synthetic", seed=NEW_PEOPLE_SEED)
        pool = subset(ds, ~np.isin(ds.groups, np.unique(test.groups)))
    row: dict = {"data": data, "test_data": test_data, "seed": seed, "n": {k: len(v.labels) for k, v in tests.items()}}
    for label, kind, target in variants:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            r = train_to_dir(data, kind, Path(tmp) / "m", seed=seed, test_data=test_data, show_progress=False,
                             target=target)
            from microbit_nn.export.qmodel import load_model

            qm = load_model(Path(tmp) / "m")
        accs = {name: float((reference.run(qm, d.windows).argmax(1) == _aligned(d, qm.classes).labels).mean())
                for name, d in tests.items()}
        size = f"{r['model']}-{r['width']}x{r['hidden']}" if r["width"] else f"{r['model']}-{r['hidden']}"
        row[label] = {"model": size, "int8": accs, "seconds": round(time.perf_counter() - t, 1)}
    row["baseline_float"] = {"int8": None, "float": _baseline_acc(pool, tests, seed)}
    return row


def createai_cv(seed: int, folds: int = 4) -> dict:
    """mlp (int8, default size) vs the baseline on 4 folds of action-data by recording."""
    from microbit_nn.train.baseline import Baseline
    from microbit_nn.train.config import TrainConfig
    from microbit_nn.train.datasets import load_dataset, split_by_group, subset
    from microbit_nn.train.select import fold_of_windows
    from microbit_nn.train.trainer import int8_accuracy, train

    ds = load_dataset(str(CREATEAI / "action-data.json"))
    fold, _ = fold_of_windows(ds, folds, seed)
    out = {"mlp_int8": [], "cnn_int8": [], "baseline_float": []}
    for f in range(folds):
        held, rest = subset(ds, fold == f), subset(ds, fold != f)
        fit, val, _ = split_by_group(rest, (0.85, 0.15, 0.0), seed=seed)
        for kind in ("mlp", "cnn"):
            out[f"{kind}_int8"].append(int8_accuracy(train(TrainConfig(kind=kind, seed=seed), fit, val).qmodel, held))
        b = Baseline(len(ds.classes), seed=seed).fit(rest)
        out["baseline_float"].append(float((b.predict(held.windows) == held.labels).mean()))
    return {"data": "createai action-data, 4 folds by recording", "seed": seed,
            **{k: {"folds": [round(v, 4) for v in vals], "mean": round(float(np.mean(vals)), 4)} for k, vals in out.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 2, 3])
    ap.add_argument("--no-v2", action="store_true", help="skip the --target v2 choice (slower)")
    args = ap.parse_args()
    variants = [("mlp", "mlp", "v1"), ("cnn", "cnn", "v1"), ("auto_v1", None, "v1")]
    if not args.no_v2:
        variants.append(("auto_v2", None, "v2"))
    rows = []
    for seed in args.seeds:
        for data, test in (("synthetic", None),
                           (str(CREATEAI / "action-data.json"), str(CREATEAI / "shake-still-circle-legacy-test-data.json"))):
            rows.append(scenario(data, test, seed, variants))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        rows.append(createai_cv(seed))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    cv = [r for r in rows if "baseline_float" in r and "folds" in r["baseline_float"]]
    summary = {"createai_cv_mean_over_seeds": {k: round(float(np.mean([r[k]["mean"] for r in cv])), 4)
                                               for k in ("mlp_int8", "cnn_int8", "baseline_float")},
               "seeds": args.seeds}
    print(json.dumps({"benchmark": "accuracy", "rows": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

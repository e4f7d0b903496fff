"""`mbnn eval MODEL DATA`: float and int8 accuracy on DATA (all of it is test data)."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the directory 'mbnn train --out' wrote (or its model_int8.json)")
    p.add_argument("data", help="a CSV folder, a CreateAI .json export, or 'synthetic'")
    p.add_argument("--seed", type=int, default=1, help="seed for 'synthetic' data (default 1: not the training seed)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from microbit_nn.host.progress import console
    from microbit_nn.train.bundle import load_bundle
    from microbit_nn.train.datasets import load_dataset
    from microbit_nn.train.evaluate import evaluate

    fm, qm = load_bundle(args.model)
    ds = load_dataset(args.data, window=qm.window, seed=args.seed)
    r = evaluate(fm, qm, ds)
    if args.json:
        print(json.dumps(r, sort_keys=True))
        return 0
    table = Table(title=f"{args.model} on {args.data} ({r['n']} windows)")
    for col in ("class", "n", "float", "int8"):
        table.add_column(col)
    for name, row in r["per_class"].items():
        f = row.get("accuracy_float")
        table.add_row(name, str(row["n"]), "-" if f is None else f"{f:.3f}", f"{row['accuracy_int8']:.3f}")
    console.print(table)
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    console.print(f"accuracy float {fmt(r['accuracy_float'])}, int8 {fmt(r['accuracy_int8'])}, "
                  f"agreement {fmt(r['agreement'])}")
    return 0

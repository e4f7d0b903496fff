"""`mbnn eval MODEL DATA`: float and int8 accuracy on DATA (all of it is test data);
`--unknown CLASS`: how often windows of a class the model does not know are flagged
unknown, against how often known gestures are wrongly flagged."""

from __future__ import annotations

import argparse
import json

from microbit_nn.host.argtypes import SEED


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the directory 'mbnn train --out' wrote (or its model_int8.json)")
    p.add_argument("data", help="a CSV folder, a CreateAI .json export, or 'synthetic'")
    p.add_argument("--seed", type=SEED, default=1,
                   help="seed 0..2**31-1 for 'synthetic' data (default 1: not the training seed)")
    p.add_argument("--unknown", action="append", default=[], metavar="CLASS",
                   help="a class of DATA the model does not know (repeatable; e.g. trained with --exclude CLASS): "
                        "report how often its windows, and known ones, are flagged unknown")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from microbit_nn.host.progress import console
    from microbit_nn.train.bundle import load_bundle
    from microbit_nn.train.datasets import load_dataset
    from microbit_nn.train.evaluate import evaluate

    fm, qm = load_bundle(args.model)
    ds = load_dataset(args.data, window=qm.window, seed=args.seed)
    if args.unknown:
        from microbit_nn.train.unknown import unknown_check

        r = unknown_check(qm, ds, args.unknown)
        if args.json:
            print(json.dumps(r, sort_keys=True))
            return 0
        table = Table(title=f"{args.model} on {args.data}: {r['n_unknown']} windows of {', '.join(args.unknown)} "
                            f"(unknown to the model), {r['n_known']} known")
        for col in ("threshold %", "unknown flagged", "known flagged", "known correct and kept"):
            table.add_column(col, justify="right")
        for row in r["sweep"]:
            mark = " (model)" if row["threshold"] == r["threshold"] else ""
            table.add_row(f"{row['threshold']}{mark}", _fmt(row["unknown_flagged"]), _fmt(row["known_flagged"]),
                          _fmt(row["known_correct_kept"]))
        console.print(table)
        console.print(r["tradeoff"])
        return 0
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
    console.print(f"accuracy float {_fmt(r['accuracy_float'])}, int8 {_fmt(r['accuracy_int8'])}, "
                  f"agreement {_fmt(r['agreement'])}")
    return 0

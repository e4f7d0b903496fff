"""`mbnn data DATA`: summarise a dataset; `--csv OUT_DIR` exports its raw recordings as a CSV folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from microbit_nn.host.argtypes import SEED, int_in


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="a CSV folder (LABEL/NAME.csv), a CreateAI .json export, or 'synthetic[:N]'")
    p.add_argument("--window", type=int_in(10, 255), default=50,
                   help="window length in samples, 10..255 (default 50 = 1 s)")
    p.add_argument("--seed", type=SEED, default=0, help="seed 0..2**31-1 for 'synthetic' data (default 0)")
    p.add_argument("--csv", "--out", dest="csv", metavar="OUT_DIR", default=None,
                   help="also write the raw recordings as OUT_DIR/LABEL/NAME.csv (x,y,z milli-g), OUT_DIR new or empty")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from microbit_nn.train.csvdata import check_new_dir, export_csv
    from microbit_nn.train.datasets import class_order, load_recordings, summary, windows_from_recordings

    if args.csv:
        check_new_dir(Path(args.csv))  # fail before the work
    recs = load_recordings(args.data, args.seed)
    ds = windows_from_recordings(recs, args.window, source=args.data)
    info = summary(ds)
    table = Table()
    for col in ("class", "recordings", "samples each", "windows"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name in class_order(recs):
        lengths = [len(r.samples) for r in recs if r.label == name]
        span = f"{min(lengths)}-{max(lengths)}" if min(lengths) != max(lengths) else str(lengths[0])
        table.add_row(name, str(len(lengths)), span, str(info["per_class"][name]))
    out = Console(highlight=False)
    out.print(f"{args.data}: {len(recs)} recordings, {info['n']} windows of {info['window']} samples "
              f"({info['window'] * ds.period_ms} ms)", soft_wrap=True)
    out.print(table)
    if args.csv:
        from microbit_nn.atomic import replacing_dir

        check_new_dir(Path(args.csv))
        # all or nothing: built beside OUT_DIR, renamed into place at the end
        with replacing_dir(Path(args.csv), "--csv folder") as tmp:
            files = export_csv(recs, tmp)
        out.print(f"wrote {len(files)} recordings to {args.csv}/LABEL/NAME.csv")
    return 0

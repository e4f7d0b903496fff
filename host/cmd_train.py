"""`mbnn train DATA`: choose a model by cross-validation (or take --model), train, quantize,
evaluate on held-out recordings, and write the model directory, all or nothing.

Every input is checked before training starts. The directory is built in a
temporary sibling of --out and replaces --out only once everything succeeded,
so a failure or Ctrl-C leaves the previous model byte for byte as it was.
torch is imported only inside `run`, so that Ctrl-C during its (slow) import
is an ordinary "interrupted".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from microbit_nn.errors import MbnnError
from microbit_nn.host.argtypes import SEED, int_in
from microbit_nn.host.progress import console, phase_progress
from microbit_nn.train.config import TARGETS, TrainConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="a CSV folder (LABEL/NAME.csv), a CreateAI .json export, or 'synthetic'")
    p.add_argument("--model", choices=["auto", "mlp", "cnn"], default="auto",
                   help="model family; auto (default) chooses family and size by cross-validation")
    p.add_argument("--target", choices=TARGETS, default="v1",
                   help="the board the model must fit (default v1; v2 allows larger models)")
    p.add_argument("--out", default="model", help="output directory (default ./model), replaced only on success")
    p.add_argument("--seed", type=SEED, default=0, help="random seed 0..2**31-1 (same seed, same model bytes)")
    p.add_argument("--epochs", type=int_in(1, 10000), default=TrainConfig.epochs,
                   help=f"max float epochs, 1..10000 (early stopping; default {TrainConfig.epochs})")
    p.add_argument("--hidden", type=int_in(1, 512), default=None,
                   help="hidden units (mlp) or 2nd conv channels (cnn), 1..512; needs --model mlp or cnn")
    p.add_argument("--exclude", action="append", default=[], metavar="CLASS",
                   help="leave this class out of training (repeatable); see 'mbnn eval --unknown'")
    p.add_argument("--test-data", default=None, help="evaluate on this data instead of a held-out split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def load_training_data(data: str, seed: int = 0, exclude=()):
    """The dataset to train on, without the `exclude`d classes (MbnnError names an unknown one)."""
    from microbit_nn.train.datasets import check_classes, class_order, load_recordings, windows_from_recordings

    recs = load_recordings(data, seed, training=True)
    known = class_order(recs)
    lookup = {c.lower(): c for c in known}
    missing = [c for c in exclude if c.lower() not in lookup]
    if missing:
        raise MbnnError(f"--exclude {missing[0]}: {data} has no such class; its classes are {known}")
    drop = {lookup[c.lower()] for c in exclude}
    recs = [r for r in recs if r.label not in drop]
    check_classes(recs, f"{data} without {sorted(drop)}" if drop else data)
    return windows_from_recordings(recs, source=data)


def check_test_classes(test_ds, classes: list[str], test_data: str) -> None:
    """--test-data must only hold classes the model will know (checked before training)."""
    known = {c.lower() for c in classes}
    extra = [c for c in test_ds.classes if c.lower() not in known]
    if extra:
        raise MbnnError(f"--test-data {test_data} has classes {extra} that the training data lacks "
                        f"(training classes: {classes}); give test data with the training classes")


def train_to_dir(data: str, kind: str | None, out: Path, seed: int = 0, epochs: int = TrainConfig.epochs,
                 hidden: int | None = None, test_data: str | None = None, show_progress: bool = True,
                 target: str = "v1", exclude=()) -> dict:
    """Train on `data` and write the model directory; returns report.json's content.
    `kind` None or "auto": chosen by cross-validation among the sizes that fit `target`."""
    from microbit_nn.atomic import replacing_dir
    from microbit_nn.train.datasets import load_dataset, split_by_group, subset

    kind = None if kind in (None, "auto") else kind
    if target not in TARGETS:
        raise MbnnError(f"unknown target {target!r}: use v1 or v2")
    if hidden is not None and kind is None:
        raise MbnnError("--hidden sets the size of one family: give --model mlp or cnn too "
                        "(without --model, train chooses the size)")
    ds = load_training_data(data, seed, exclude)
    test_ds = None
    if test_data:
        test_ds = load_dataset(test_data, window=ds.windows.shape[1], seed=seed)
        check_test_classes(test_ds, ds.classes, test_data)
    with replacing_dir(out, "the model folder") as tmp:
        from microbit_nn.train.select import cross_validate

        if test_ds is not None:
            train_ds, val_ds, _ = split_by_group(ds, (0.8, 0.2, 0.0), seed=seed)
            split = {"train": len(train_ds.labels), "val": len(val_ds.labels), "test": len(test_ds.labels),
                     "test_data": test_data}
        else:
            train_ds, val_ds, test_ds = split_by_group(ds, seed=seed)
            split = {"train": len(train_ds.labels), "val": len(val_ds.labels), "test": len(test_ds.labels)}
        with phase_progress(show_progress) as progress:
            if kind is None:
                # the choice sees the training and validation recordings, never the test ones
                pool = ds if test_data else subset(ds, ~_isin_groups(ds, test_ds))
                choice = cross_validate(pool, target, seed, progress)
                cfg = TrainConfig(kind=choice.winner.kind, hidden=choice.winner.hidden, width=choice.winner.width,
                                  epochs=epochs, seed=seed)
                selection = choice.as_dict()
            else:
                from microbit_nn.train.models import DEFAULT_HIDDEN, DEFAULT_WIDTH

                cfg = TrainConfig(kind=kind, hidden=hidden or DEFAULT_HIDDEN[kind],
                                  width=DEFAULT_WIDTH if kind == "cnn" else None, epochs=epochs, seed=seed)
                selection = {"winner": kind, "reason": f"--model {kind} forced the family", "candidates": []}
            report = _train_and_write(tmp, cfg, ds, train_ds, val_ds, test_ds, progress, data, seed, target)
        report.update(split=split, selection=selection, target=target, excluded=sorted(exclude))
        from microbit_nn.train.report import write_report

        write_report(tmp, report, report.pop("_history"))
    return report


def _isin_groups(ds, part):
    """Mask of `ds`'s windows whose recording is in `part` (a subset of ds)."""
    import numpy as np

    return np.isin(ds.groups, np.unique(part.groups))


def _train_and_write(tmp: Path, cfg: TrainConfig, ds, train_ds, val_ds, test_ds, progress, data, seed, target) -> dict:
    from microbit_nn.export.reference import predict
    from microbit_nn.train.bundle import FLOAT_FILE, INT8_FILE, FloatModel, save_float
    from microbit_nn.train.evaluate import evaluate
    from microbit_nn.train.trainer import train

    import numpy as np

    result = train(cfg, train_ds, val_ds, progress, meta={"data": data, "seed": seed})
    qm = result.qmodel
    qm.target = target
    fm = FloatModel(result.float_model, result.norm, list(ds.classes))
    save_float(tmp / FLOAT_FILE, fm, cfg.hidden, cfg.width)
    qm.save(tmp / INT8_FILE)
    _, conf = predict(qm, val_ds.windows)
    report = {
        "model": cfg.kind, "hidden": cfg.hidden, "width": cfg.width, "data": data, "seed": seed,
        "classes": list(ds.classes),
        "dataset": {"windows": int(len(ds.labels)), "recordings": int(len(set(ds.groups.tolist()))),
                    "window": int(ds.windows.shape[1]), "per_class": {c: int((ds.labels == i).sum()) for i, c in enumerate(ds.classes)}},
        "test": evaluate(fm, qm, test_ds),
        "quantization": result.method, "quantization_candidates": result.candidates,
        "threshold": qm.threshold,
        # the calibration's cost: validation windows (all known gestures) the threshold calls unknown
        "threshold_val_flagged": float(np.mean(np.asarray(conf) < qm.threshold)) if len(conf) else None,
        "params": qm.param_count(), "weight_bytes": qm.weight_bytes(),
        "macs": qm.macs(), "train_seconds": round(result.seconds, 2), "_history": result.history,
        "budget": _budget(qm, target),
    }
    for key in ("accuracy_float", "accuracy_int8", "agreement"):
        report[key] = report["test"][key]
    return report


def _budget(qm, target: str) -> dict:
    """Will the trained model fit `target`? export/budget.py's estimate (what build checks)."""
    from microbit_nn.export.budget import estimate

    b = estimate(qm, target)
    return {"estimate_free": b.estimate_free, "verdict": b.verdict, "min_free": b.min_free}


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    r = train_to_dir(args.data, args.model, out, args.seed, args.epochs, args.hidden, args.test_data,
                     not args.quiet, target=args.target, exclude=args.exclude)
    size = f"-{r['width']}x{r['hidden']}" if r["width"] else (f"-{r['hidden']}" if r["hidden"] else "")
    console.print(
        f"[bold]{r['model']}{size}[/] ({r['selection']['reason']}) on {r['data']}: test accuracy float "
        f"{r['accuracy_float']:.3f}, int8 {r['accuracy_int8']:.3f}, agreement {r['agreement']:.3f} "
        f"({r['test']['n']} windows); {r['quantization'].upper()}, {r['weight_bytes']} weight bytes, "
        f"{r['macs']} MACs, for the {r['target'].upper()}; trained in {r['train_seconds']:.1f} s -> {out}/"
    )
    b = r["budget"]
    if b["verdict"] == "does not fit":  # say it now, not at build time
        console.print(f"[yellow]note:[/] it does not fit the {r['target'].upper()} by the budget's estimate "
                      f"({b['estimate_free']} bytes of heap free, at least {b['min_free']} needed): 'mbnn build' "
                      "will refuse it; train a smaller one (--model mlp --hidden 16)"
                      + (" or with --target v2 for a V2" if r["target"] == "v1" else ""))
    return 0

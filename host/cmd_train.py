"""`mbnn train DATA`: train, quantize, evaluate on held-out recordings, write the model directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from microbit_nn.host.progress import console, phase_progress
from microbit_nn.train.bundle import FLOAT_FILE, INT8_FILE, FloatModel, save_float
from microbit_nn.train.datasets import load_dataset, split_by_group
from microbit_nn.train.evaluate import evaluate
from microbit_nn.train.report import write_report
from microbit_nn.train.trainer import TrainConfig, train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="a CSV folder (LABEL/NAME.csv), a CreateAI .json export, or 'synthetic'")
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp", help="model family (default mlp)")
    p.add_argument("--out", default="model", help="output directory (default ./model)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same model bytes)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="max float epochs (early stopping)")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (mlp) or 2nd conv channels (cnn)")
    p.add_argument("--test-data", default=None, help="evaluate on this data instead of a held-out split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def train_to_dir(data: str, kind: str, out: Path, seed: int = 0, epochs: int = TrainConfig.epochs,
                 hidden: int | None = None, test_data: str | None = None, show_progress: bool = True) -> dict:
    """Train on `data` and write the model directory; returns report.json's content."""
    ds = load_dataset(data, seed=seed)
    if test_data:
        train_ds, val_ds, _ = split_by_group(ds, (0.8, 0.2, 0.0), seed=seed)
        test_ds = load_dataset(test_data, window=ds.windows.shape[1], seed=seed)
        split = {"train": len(train_ds.labels), "val": len(val_ds.labels), "test": len(test_ds.labels), "test_data": test_data}
    else:
        train_ds, val_ds, test_ds = split_by_group(ds, seed=seed)
        split = {"train": len(train_ds.labels), "val": len(val_ds.labels), "test": len(test_ds.labels)}
    cfg = TrainConfig(kind=kind, hidden=hidden, epochs=epochs, seed=seed)
    with phase_progress(show_progress) as progress:
        result = train(cfg, train_ds, val_ds, progress, meta={"data": data, "seed": seed})
    fm = FloatModel(result.float_model, result.norm, list(ds.classes))
    out.mkdir(parents=True, exist_ok=True)
    save_float(out / FLOAT_FILE, fm, hidden)
    result.qmodel.save(out / INT8_FILE)
    qm = result.qmodel
    report = {
        "model": kind, "data": data, "seed": seed, "classes": list(ds.classes),
        "dataset": {"windows": int(len(ds.labels)), "recordings": int(len(set(ds.groups.tolist()))),
                    "window": int(ds.windows.shape[1]), "per_class": {c: int((ds.labels == i).sum()) for i, c in enumerate(ds.classes)}},
        "split": split, "test": evaluate(fm, qm, test_ds),
        "quantization": result.method, "quantization_candidates": result.candidates,
        "threshold": qm.threshold, "params": qm.param_count(), "weight_bytes": qm.weight_bytes(),
        "macs": qm.macs(), "train_seconds": round(result.seconds, 2),
    }
    for key in ("accuracy_float", "accuracy_int8", "agreement"):
        report[key] = report["test"][key]
    write_report(out, report, result.history)
    return report


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    r = train_to_dir(args.data, args.model, out, args.seed, args.epochs, args.hidden, args.test_data, not args.quiet)
    console.print(
        f"[bold]{r['model']}[/] on {r['data']}: test accuracy float {r['accuracy_float']:.3f}, "
        f"int8 {r['accuracy_int8']:.3f}, agreement {r['agreement']:.3f} ({r['test']['n']} windows); "
        f"{r['quantization'].upper()}, {r['weight_bytes']} weight bytes, {r['macs']} MACs; "
        f"trained in {r['train_seconds']:.1f} s -> {out}/"
    )
    return 0

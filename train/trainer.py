"""Training: float fit with augmentation and early stopping, then quantization
(calibrated PTQ and QAT fine-tuning; the better int8 result on validation wins)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from microbit_nn.export import reference
from microbit_nn.export.qmodel import QModel
from microbit_nn.train import augment as aug
from microbit_nn.train.config import TrainConfig
from microbit_nn.train.convert import to_qmodel
from microbit_nn.train.datasets import Dataset
from microbit_nn.train.inputs import FeatureNorm, to_tensor, window_features
from microbit_nn.train.models import QuantNet, build_model

Progress = Callable[[str, int, int, dict], None]  # (phase, step, total, metrics)


@dataclass
class TrainResult:
    float_model: QuantNet
    qmodel: QModel
    norm: FeatureNorm | None
    method: str  # "qat" or "ptq"
    history: dict = field(default_factory=dict)
    candidates: dict = field(default_factory=dict)  # method -> int8 validation accuracy
    seconds: float = 0.0


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def _epoch_batches(cfg: TrainConfig, ds: Dataset, norm, rng: np.random.Generator):
    """Augmented, shuffled (inputs, labels) mini-batches for one epoch."""
    windows, labels = [ds.windows], [ds.labels]
    if cfg.augment:
        for _ in range(cfg.aug_copies):
            windows.append(aug.augment(ds.windows, rng, rotate_deg=cfg.rotate_deg, motion_deg=cfg.motion_deg))
            labels.append(ds.labels)
    x = to_tensor(cfg.kind, np.concatenate(windows), norm)
    y = torch.tensor(np.concatenate(labels), dtype=torch.long)
    order = torch.from_numpy(rng.permutation(len(y)))
    for i in range(0, len(y), cfg.batch):
        idx = order[i:i + cfg.batch]
        yield x[idx], y[idx]


def _evaluate(model: QuantNet, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def _fit(model, cfg, train, val_xy, norm, rng, epochs, lr, phase, progress, history) -> QuantNet:
    """Adam with cosine decay; keeps the weights of the best validation loss."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    best, best_state, waited = float("inf"), copy.deepcopy(model.state_dict()), 0
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in _epoch_batches(cfg, train, norm, rng):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(yb), count + len(yb)
        sched.step()
        val_loss, val_acc = _evaluate(model, *val_xy)
        for key, value in (("train_loss", total / count), ("val_loss", val_loss), ("val_acc", val_acc)):
            history.setdefault(f"{phase}_{key}", []).append(value)
        if progress:
            progress(phase, epoch + 1, epochs, {"loss": total / count, "val_acc": val_acc})
        if val_loss < best - 1e-4:
            best, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    model.load_state_dict(best_state)
    return model


def int8_accuracy(qm: QModel, ds: Dataset) -> float:
    """Accuracy of the integer reference on a dataset."""
    return float((reference.run(qm, ds.windows).argmax(axis=1) == ds.labels).mean())


def calibrate_threshold(qm: QModel, val: Dataset) -> int:
    """The "unknown" confidence threshold (percent): CreateAI's 80, lowered when
    needed so that at least 95% of correct validation predictions pass it."""
    labels, conf = reference.predict(qm, val.windows)
    correct = np.asarray(conf)[np.asarray(labels) == val.labels]
    if len(correct) == 0:
        return 80
    return int(max(100 // len(qm.classes) + 1, min(80, np.percentile(correct, 5))))


def train(cfg: TrainConfig, train_ds: Dataset, val_ds: Dataset, progress: Progress | None = None,
          meta: dict | None = None) -> TrainResult:
    """Fit a float model, quantize it both ways, and keep the better int8 model."""
    start = time.perf_counter()
    # These models are tiny: one thread is several times faster than many
    # contending threads on a shared 2-core machine, and keeps runs repeatable.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(cfg, train_ds, val_ds, progress, meta, start)
    finally:
        torch.set_num_threads(threads)


def _train(cfg, train_ds, val_ds, progress, meta, start) -> TrainResult:
    _seed_all(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    norm = FeatureNorm.fit(window_features(train_ds.windows)) if cfg.kind == "mlp" else None
    model = build_model(cfg.kind, len(train_ds.classes), cfg.hidden, cfg.width)
    val_xy = (to_tensor(cfg.kind, val_ds.windows, norm), torch.tensor(val_ds.labels, dtype=torch.long))
    history: dict = {}
    model = _fit(model, cfg, train_ds, val_xy, norm, rng, cfg.epochs, cfg.lr, "float", progress, history)
    model.eval()
    model.calibrate([to_tensor(cfg.kind, train_ds.windows, norm)])

    def convert(m: QuantNet) -> QModel:
        return to_qmodel(m, train_ds.classes, train_ds.windows.shape[1], train_ds.period_ms, norm, meta=meta)

    candidates = {"ptq": convert(model)}
    qat = copy.deepcopy(model)
    qat.quantized = True
    qat = _fit(qat, cfg, train_ds, val_xy, norm, rng, cfg.qat_epochs, cfg.lr * 0.1, "qat", progress, history)
    qat.eval()
    candidates["qat"] = convert(qat)
    scores = {name: int8_accuracy(qm, val_ds) for name, qm in candidates.items()}
    method = "qat" if scores["qat"] >= scores["ptq"] else "ptq"
    qm = candidates[method]
    qm.threshold = calibrate_threshold(qm, val_ds)
    qm.meta["quantization"] = method
    # The float model reported is the one the int8 model was made from (after
    # QAT, its float weights), so "agreement" compares like with like.
    float_model = qat if method == "qat" else model
    float_model.quantized = False
    return TrainResult(float_model=float_model, qmodel=qm, norm=norm, method=method, history=history,
                       candidates=scores, seconds=time.perf_counter() - start)

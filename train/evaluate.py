"""Metrics of a float model and its int8 integer reference on a labelled dataset."""

from __future__ import annotations

import numpy as np

from microbit_nn.export import reference
from microbit_nn.export.qmodel import QModel
from microbit_nn.train.bundle import FloatModel
from microbit_nn.train.datasets import Dataset


def confusion(labels: np.ndarray, predicted: np.ndarray, n: int) -> list[list[int]]:
    """Confusion matrix, rows = true class, columns = predicted."""
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m.tolist()


def map_classes(ds: Dataset, classes: list[str]) -> np.ndarray:
    """The dataset's labels as indices into the model's classes (case-insensitive)."""
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    missing = [c for c in ds.classes if c.lower() not in lookup]
    if missing:
        from microbit_nn.errors import MbnnError

        raise MbnnError(f"the data has classes {missing} that the model does not know ({classes}); "
                        "evaluate on data with the model's classes or retrain")
    return np.array([lookup[ds.classes[i].lower()] for i in ds.labels], np.int64)


def evaluate(fm: FloatModel | None, qm: QModel, ds: Dataset) -> dict:
    """n, accuracy_float, accuracy_int8, agreement, per_class and confusion matrices."""
    labels = map_classes(ds, qm.classes)
    n_cls = len(qm.classes)
    pred_q = reference.run(qm, ds.windows).argmax(axis=1)
    out: dict = {"n": int(len(labels)), "accuracy_int8": float((pred_q == labels).mean())}
    per_class = {}
    for i, name in enumerate(qm.classes):
        sel = labels == i
        if sel.any():
            per_class[name] = {"n": int(sel.sum()), "accuracy_int8": float((pred_q[sel] == i).mean())}
    if fm is not None:
        pred_f = fm.logits(ds.windows).argmax(axis=1)
        out["accuracy_float"] = float((pred_f == labels).mean())
        out["agreement"] = float((pred_f == pred_q).mean())
        out["confusion_float"] = confusion(labels, pred_f, n_cls)
        for i, name in enumerate(qm.classes):
            if name in per_class:
                per_class[name]["accuracy_float"] = float((pred_f[labels == i] == i).mean())
    else:
        out["accuracy_float"] = out["agreement"] = None
    out["per_class"] = per_class
    out["confusion_int8"] = confusion(labels, pred_q, n_cls)
    out["classes"] = list(qm.classes)
    return out

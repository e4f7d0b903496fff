"""How well the "unknown" threshold separates gestures a model never learnt from
the ones it knows: windows of a class the model does not know should fall below
the confidence threshold (flagged unknown); windows of known classes should not.
Raising the threshold flags more of both; `sweep` states that trade-off."""

from __future__ import annotations

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import reference
from microbit_nn.export.qmodel import QModel
from microbit_nn.train.datasets import Dataset, subset

SWEEP = tuple(range(40, 100, 5))  # thresholds (percent) shown besides the model's own


def _rates(conf_u: np.ndarray, conf_k: np.ndarray, right_k: np.ndarray, t: int) -> dict:
    """At threshold t: unknown windows flagged, known windows flagged, known windows correct and kept."""
    return {"threshold": int(t),
            "unknown_flagged": float(np.mean(conf_u < t)),
            "known_flagged": float(np.mean(conf_k < t)) if len(conf_k) else None,
            "known_correct_kept": float(np.mean(right_k & (conf_k >= t))) if len(conf_k) else None}


def unknown_check(qm: QModel, ds: Dataset, unknown: list[str]) -> dict:
    """Flag rates of the `unknown` classes' windows (classes of `ds` that `qm` does
    not know) and of the other windows, at the model's threshold and over SWEEP."""
    model = {c.lower() for c in qm.classes}
    data = {c.lower(): i for i, c in enumerate(ds.classes)}
    for name in unknown:
        if name.lower() in model:
            raise MbnnError(f"the model knows {name!r}: train one without it ('mbnn train DATA --exclude {name} "
                            f"--out DIR'), then run 'mbnn eval DIR DATA --unknown {name}'")
        if name.lower() not in data:
            raise MbnnError(f"--unknown {name}: the data has no such class; its classes are {ds.classes}")
    is_u = np.isin(ds.labels, [data[n.lower()] for n in unknown])
    u, k = subset(ds, is_u), subset(ds, ~is_u)
    pred_k, conf_k = (reference.predict(qm, k.windows) if len(k.labels) else (np.zeros(0, int), np.zeros(0, int)))
    to_model = {i: qm.classes.index(next(m for m in qm.classes if m.lower() == c.lower()))
                for i, c in enumerate(ds.classes) if c.lower() in model}
    missing = sorted({ds.classes[i] for i in k.labels.tolist() if i not in to_model})
    if missing:
        raise MbnnError(f"the data has classes {missing} that the model does not know; "
                        f"name them with --unknown too, or evaluate on data with the model's classes")
    right_k = np.asarray(pred_k) == np.array([to_model[i] for i in k.labels.tolist()], np.int64)
    _, conf_u = reference.predict(qm, u.windows)
    conf_u, conf_k = np.asarray(conf_u), np.asarray(conf_k)
    at = _rates(conf_u, conf_k, right_k, qm.threshold)
    sweep = [_rates(conf_u, conf_k, right_k, t) for t in sorted(set(SWEEP) | {qm.threshold})]
    return {"unknown_classes": list(unknown), "n_unknown": int(len(u.labels)), "n_known": int(len(k.labels)),
            "threshold": int(qm.threshold), "at_threshold": at, "sweep": sweep,
            "tradeoff": (f"at the model's threshold {qm.threshold}%: {100 * at['unknown_flagged']:.1f}% of "
                         f"unknown-gesture windows flagged unknown, "
                         + ("no known windows" if at["known_flagged"] is None else
                            f"{100 * at['known_flagged']:.1f}% of known-gesture windows wrongly flagged")
                         + "; a higher threshold flags more of both")}

"""Integer window features, vectorised over N windows (the oracle for firmware/ft.py).

From int16 milli-g windows [N, L, 3] (1 <= L <= 255; values clipped to
+/-2048) compute 8 features per axis in the order
`max, min, mean, std, peaks, zcross, rms, mabs`, axes x, y, z -> 24 ints.
Exact definitions and small-int proofs: docs/quantization.md ("Features").
"""

from __future__ import annotations

import numpy as np

from microbit_nn.errors import MbnnError

CLIP = 2048
NAMES = ("max", "min", "mean", "std", "peaks", "zcross", "rms", "mabs")
FEATURE_NAMES = tuple(f"{a}_{n}" for a in "xyz" for n in NAMES)


def isqrt(v) -> np.ndarray:
    """Exact floor(sqrt(v)) elementwise for integers 0 <= v < 2**52."""
    v = np.asarray(v, np.int64)
    if v.size and v.min() < 0:
        raise ValueError("isqrt of a negative number")
    r = np.floor(np.sqrt(v.astype(np.float64))).astype(np.int64)
    # The float root can be one off near perfect squares: correct both ways.
    r = np.where(r * r > v, r - 1, r)
    return np.where((r + 1) * (r + 1) <= v, r + 1, r)


def _axis_features(x: np.ndarray) -> np.ndarray:
    """x int64 [N, L] -> int64 [N, 8]."""
    L = x.shape[1]
    s = x.sum(axis=1)
    mean = (s + L // 2) // L
    d = x - mean[:, None]
    var = (d * d).sum(axis=1) // L
    std = isqrt(var)
    # Peak: a strict rise into x[i], no rise after it, and more than one std above the mean.
    mid = x[:, 1:-1]
    peak = (mid > x[:, :-2]) & (mid >= x[:, 2:]) & (d[:, 1:-1] > std[:, None])
    pos = d >= 0
    zc = (pos[:, 1:] != pos[:, :-1]).sum(axis=1)
    rms = isqrt((x * x).sum(axis=1) // L)
    mabs = (np.abs(x).sum(axis=1) + L // 2) // L
    return np.stack([x.max(axis=1), x.min(axis=1), mean, std, peak.sum(axis=1), zc, rms, mabs], axis=1)


def extract(windows) -> np.ndarray:
    """The 24 integer features of each window: int64 [N, 24] (or [24] for one [L, 3] window)."""
    w = np.asarray(windows)
    single = w.ndim == 2
    if single:
        w = w[None]
    if w.ndim != 3 or w.shape[2] != 3 or not 1 <= w.shape[1] <= 255:
        raise MbnnError(f"feature input must be windows [N, L, 3] with 1 <= L <= 255, got shape {list(w.shape)}")
    x = np.clip(w.astype(np.int64), -CLIP, CLIP)
    out = np.concatenate([_axis_features(x[:, :, a]) for a in range(3)], axis=1)
    return out[0] if single else out

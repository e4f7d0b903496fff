"""A CreateAI-like float classifier, the yardstick for our int8 mlp (issue 12).

Modelled on what micro:bit CreateAI computes (facts from its documentation and
behaviour; the code is ours): per axis, on values in g, eight statistics -
max, min, mean, standard deviation, peak count (a smoothed z-score detector),
zero-crossing rate, root mean square and total acceleration (sum of |a|) -
standardized, then a float Dense 16 + ReLU + Dense network trained with Adam on
the windows as they are (no augmentation, no quantization).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from microbit_nn.train.datasets import Dataset

STATS = ("max", "min", "mean", "std", "peaks", "zcr", "rms", "acc")
PEAK_LAG, PEAK_THRESHOLD, PEAK_INFLUENCE = 5, 3.5, 0.5


def peak_count(x: np.ndarray) -> int:
    """Rising edges of a smoothed z-score detector: a sample is a peak when it is more than
    PEAK_THRESHOLD standard deviations above the mean of the previous PEAK_LAG (filtered) samples;
    peaks enter the filtered history damped by PEAK_INFLUENCE."""
    if len(x) <= PEAK_LAG:
        return 0
    filtered = list(x[:PEAK_LAG])
    count, above = 0, False
    for v in x[PEAK_LAG:]:
        hist = np.array(filtered[-PEAK_LAG:])
        mean, std = hist.mean(), hist.std()
        if abs(v - mean) > PEAK_THRESHOLD * std and v > mean:
            if not above:
                count += 1
            above = True
            filtered.append(PEAK_INFLUENCE * v + (1 - PEAK_INFLUENCE) * filtered[-1])
        else:
            above = False
            filtered.append(v)
    return count


def stats(windows: np.ndarray) -> np.ndarray:
    """[N, 24] float features of int16 milli-g windows [N, L, 3] (axis-major, STATS order)."""
    g = windows.astype(np.float64) / 1000.0
    out = np.zeros((len(g), 3, len(STATS)))
    for a in range(3):
        x = g[:, :, a]
        sign = x >= 0
        out[:, a, 0], out[:, a, 1], out[:, a, 2], out[:, a, 3] = x.max(1), x.min(1), x.mean(1), x.std(1)
        out[:, a, 4] = [peak_count(row) for row in x]
        out[:, a, 5] = (sign[:, 1:] != sign[:, :-1]).sum(1) / (x.shape[1] - 1)
        out[:, a, 6] = np.sqrt((x ** 2).mean(1))
        out[:, a, 7] = np.abs(x).sum(1)
    return out.reshape(len(g), -1)


class Baseline:
    """Fit on a Dataset, then predict class indices of windows."""

    def __init__(self, n_classes: int, seed: int = 0, epochs: int = 160, hidden: int = 16):
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(3 * len(STATS), hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
        self.seed, self.epochs = seed, epochs

    def _x(self, windows: np.ndarray) -> torch.Tensor:
        return torch.tensor((stats(windows) - self.mean) / self.std, dtype=torch.float32)

    def fit(self, ds: Dataset) -> "Baseline":
        f = stats(ds.windows)
        self.mean, self.std = f.mean(0), np.where(f.std(0) < 1e-9, 1.0, f.std(0))
        x, y = self._x(ds.windows), torch.tensor(ds.labels, dtype=torch.long)
        opt = torch.optim.Adam(self.net.parameters(), lr=0.01)
        rng = np.random.default_rng(self.seed)
        for _ in range(self.epochs):
            for idx in np.array_split(rng.permutation(len(y)), max(1, len(y) // 16)):
                opt.zero_grad()
                F.cross_entropy(self.net(x[idx]), y[idx]).backward()
                opt.step()
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(self._x(windows)).argmax(1).numpy()

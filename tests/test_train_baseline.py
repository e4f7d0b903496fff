"""train/baseline.py: the CreateAI-like statistics against a per-window oracle."""

import math

import numpy as np

from microbit_nn.train.baseline import Baseline, peak_count, stats
from microbit_nn.train.datasets import load_dataset


def _oracle(window):
    out = []
    for a in range(3):
        x = [v / 1000.0 for v in window[:, a].tolist()]
        n, mean = len(x), sum(x) / len(x)
        zc = sum(1 for i in range(1, n) if (x[i] >= 0) != (x[i - 1] >= 0)) / (n - 1)
        out += [max(x), min(x), mean, math.sqrt(sum((v - mean) ** 2 for v in x) / n), None, zc,
                math.sqrt(sum(v * v for v in x) / n), sum(abs(v) for v in x)]
    return out


def test_statistics_match_a_plain_python_oracle():
    ds = load_dataset("synthetic:2", seed=5)
    got = stats(ds.windows)
    for w, row in zip(ds.windows, got):
        for i, (want, have) in enumerate(zip(_oracle(w), row)):
            if want is not None:
                assert math.isclose(want, have, rel_tol=1e-9, abs_tol=1e-9), i


def test_peaks_count_isolated_spikes_once_each():
    x = np.zeros(50)
    x[[10, 25, 40]] = 5.0
    x[26] = 5.0  # a two-sample spike is one peak
    assert peak_count(x + np.random.default_rng(0).normal(0, 0.01, 50)) == 3
    assert peak_count(np.zeros(50)) == 0


def test_the_baseline_learns_synthetic_gestures():
    ds = load_dataset("synthetic:8", seed=0)
    b = Baseline(len(ds.classes), seed=0, epochs=60).fit(ds)
    assert (b.predict(ds.windows) == ds.labels).mean() > 0.8  # chance is 0.2

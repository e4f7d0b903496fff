"""train/synthetic.py: deterministic, in range, physically plausible, separable but not trivially."""

from __future__ import annotations

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.train import synthetic as S
from microbit_nn.train.datasets import MAX_MG, cut_windows, default_hop, split_by_group, windows_from_recordings


@pytest.fixture(scope="module")
def recs():
    return S.make_recordings(12, seed=5)


def by_class(recs, cls):
    return [r for r in recs if r.label == cls]


def test_deterministic_and_seed_dependent(recs) -> None:
    again = S.make_recordings(12, seed=5)
    other = S.make_recordings(12, seed=6)
    assert [r.name for r in recs] == [r.name for r in again]
    for a, b in zip(recs, again):
        np.testing.assert_array_equal(a.samples, b.samples)
    assert sum(a.samples.shape == b.samples.shape and (a.samples == b.samples).all() for a, b in zip(recs, other)) == 0


def test_classes_lengths_range(recs) -> None:
    assert [r.label for r in recs[::12]] == list(S.CLASSES) == ["shake", "circle", "flick", "tilt", "still"]
    for r in recs:
        assert r.samples.dtype == np.int16 and r.samples.shape[1] == 3
        assert 60 <= len(r.samples) <= 100  # 1.2-2 s at 50 Hz
        assert np.abs(r.samples.astype(int)).max() <= MAX_MG


def test_class_subset_is_independent_of_other_classes(recs) -> None:
    sub = S.make_recordings(12, seed=5, classes=["still", "flick"])
    assert [r.label for r in sub[::12]] == ["still", "flick"]
    for a, b in zip(sub, by_class(recs, "still") + by_class(recs, "flick")):
        np.testing.assert_array_equal(a.samples, b.samples)
    with pytest.raises(MbnnError, match="unknown synthetic class"):
        S.make_recordings(2, classes=["wave"])


def test_still_reads_one_g(recs) -> None:
    for r in by_class(recs, "still"):
        mag = np.linalg.norm(r.samples.astype(float), axis=1)
        assert 900 < mag.mean() < 1100 and r.samples.std(axis=0).max() < 100


def dominant_hz(signal: np.ndarray) -> float:
    x = signal - signal.mean(axis=0)
    power = (np.abs(np.fft.rfft(x, n=1024, axis=0)) ** 2).sum(axis=1)
    return float(np.fft.rfftfreq(1024, 1 / S.RATE_HZ)[power.argmax()])


def test_periodic_gestures_have_their_tempo(recs) -> None:
    shakes = [dominant_hz(r.samples.astype(float)) for r in by_class(recs, "shake")]
    circles = [dominant_hz(r.samples.astype(float)) for r in by_class(recs, "circle")]
    assert min(shakes) > 2.0 and max(shakes) < 9.5
    assert min(circles) > 0.5 and max(circles) < 2.8
    assert np.median(shakes) > 2 * np.median(circles)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


def test_events_are_in_every_window(recs) -> None:
    hop = default_hop(S.WINDOW)
    for r in by_class(recs, "tilt"):  # every window turns gravity by most of the tilt
        for w in cut_windows(r.samples, S.WINDOW, hop).astype(float):
            assert angle_deg(w[:5].mean(0), w[-5:].mean(0)) > 20
    for r in by_class(recs, "flick"):  # every window holds the pulse
        for w in cut_windows(r.samples, S.WINDOW, hop).astype(float):
            assert np.abs(w - np.median(w, axis=0)).max() > 250


def stats(windows: np.ndarray) -> np.ndarray:
    w = windows.astype(float)
    mag = np.linalg.norm(w, axis=2)
    return np.concatenate([w.mean(1), w.std(1), np.abs(np.diff(w, axis=1)).mean(1),
                           mag.std(1)[:, None], mag.max(1)[:, None]], axis=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_centroid_is_above_chance_but_not_perfect(seed: int) -> None:
    ds = windows_from_recordings(S.make_recordings(S.DEFAULT_PER_CLASS, seed))
    train, _, test = split_by_group(ds, seed=seed)
    f_tr, f_te = stats(train.windows), stats(test.windows)
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-9
    f_tr, f_te = (f_tr - mu) / sd, (f_te - mu) / sd
    centroids = np.stack([f_tr[train.labels == c].mean(0) for c in range(len(ds.classes))])
    pred = ((f_te[:, None] - centroids[None]) ** 2).sum(2).argmin(1)
    acc = float((pred == test.labels).mean())
    print(f"nearest centroid on window statistics, seed {seed}: {acc:.3f} (chance 0.2)")
    assert 0.4 < acc < 0.99

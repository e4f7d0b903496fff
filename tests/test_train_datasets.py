"""train/datasets.py: windowing rule, spec parsing, splits, subsets, summaries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.train import datasets as D


def naive_windows(samples: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Oracle: every slice whose start is a multiple of hop, plus the last one."""
    t = len(samples)
    if t < window:
        left = (window - t) // 2
        right = window - t - left
        return np.concatenate([np.repeat(samples[:1], left, 0), samples, np.repeat(samples[-1:], right, 0)])[None]
    starts = [s for s in range(t - window + 1) if s % hop == 0 or s == t - window]
    return np.array([samples[s:s + window] for s in starts])


@settings(max_examples=60, deadline=None)
@given(t=st.integers(10, 130), window=st.integers(10, 60), seed=st.integers(0, 2**16))
def test_cut_windows_matches_naive_rule(t: int, window: int, seed: int) -> None:
    samples = np.random.default_rng(seed).integers(-2048, 2049, (t, 3)).astype(np.int16)
    hop = D.default_hop(window)
    got = D.cut_windows(samples, window, hop)
    np.testing.assert_array_equal(got, naive_windows(samples, window, hop))
    assert got.dtype == np.int16 and got.shape[1:] == (window, 3)


def test_real_lengths_cover_recording_end() -> None:
    # 92 samples, window 50, hop 10: starts 0, 10, 20, 30, 40 and the final 42.
    assert D.window_starts(92, 50, 10) == [0, 10, 20, 30, 40, 42]
    assert D.window_starts(50, 50, 10) == [0]
    assert D.window_starts(44, 50, 10) == [0]


def rec(label: str, name: str, t: int, value: int = 0) -> D.Recording:
    return D.Recording(label, name, np.full((t, 3), value, np.int16))


def test_windows_from_recordings_labels_groups_and_clipping() -> None:
    recs = [rec("a", "1", 60, 5000), rec("b", "2", 44, -3000), rec("a", "3", 50)]
    ds = D.windows_from_recordings(recs, 50, source="x")
    assert ds.classes == ["a", "b"]
    # 60 samples -> starts 0, 10; 44 -> one padded window; 50 -> one.
    assert ds.labels.tolist() == [0, 0, 1, 0]
    assert ds.groups.tolist() == [0, 0, 1, 2]
    assert ds.windows.dtype == np.int16 and ds.windows.shape == (4, 50, 3)
    assert ds.windows.max() == D.MAX_MG and ds.windows.min() == -D.MAX_MG
    assert ds.labels.dtype == np.int64 and ds.groups.dtype == np.int64
    assert ds.period_ms == 20 and ds.source == "x"


def test_windows_with_given_class_order_and_unknown_label() -> None:
    recs = [rec("a", "1", 50), rec("b", "2", 50)]
    ds = D.windows_from_recordings(recs, 50, classes=["b", "a", "c"])
    assert ds.labels.tolist() == [1, 0]
    with pytest.raises(MbnnError, match="'a'"):
        D.windows_from_recordings(recs, 50, classes=["b"])
    with pytest.raises(MbnnError, match="window"):
        D.windows_from_recordings(recs, 5)


@pytest.mark.parametrize("spec, pattern", [
    ("synthetic:0", "synthetic:N"), ("synthetic:x", "synthetic:N"), ("synthetic:-3", "synthetic:N"),
    ("no/such/place", "no such file or folder"),
])
def test_bad_specs(spec: str, pattern: str) -> None:
    with pytest.raises(MbnnError, match=pattern):
        D.load_dataset(spec)


def test_non_json_file_is_refused(tmp_path) -> None:
    f = tmp_path / "data.txt"
    f.write_text("x,y,z\n")
    with pytest.raises(MbnnError, match="data.txt.*not a .json"):
        D.load_dataset(str(f))


def test_synthetic_spec_counts_and_seed() -> None:
    ds = D.load_dataset("synthetic:3", seed=4)
    assert D.summary(ds)["recordings_per_class"] == {c: 3 for c in ds.classes}
    again = D.load_dataset("synthetic:3", seed=4)
    np.testing.assert_array_equal(ds.windows, again.windows)


def test_check_classes() -> None:
    with pytest.raises(MbnnError, match="only the class 'a'"):
        D.check_classes([rec("a", "1", 20)], "src")
    with pytest.raises(MbnnError, match="no recordings"):
        D.check_classes([], "src")
    with pytest.raises(MbnnError, match="at least 10"):
        D.check_length(9, "f.csv")


def toy(per_class: list[int], windows_per_rec: int = 3) -> D.Dataset:
    recs = [rec(f"c{c}", f"{c}-{i}", 50 + 10 * (windows_per_rec - 1)) for c, n in enumerate(per_class) for i in range(n)]
    return D.windows_from_recordings(recs, 50)


def check_split(ds: D.Dataset, parts: tuple[D.Dataset, D.Dataset, D.Dataset]) -> None:
    sets = [set(p.groups.tolist()) for p in parts]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(len(p.labels) for p in parts) == len(ds.labels)
    assert set().union(*sets) == set(ds.groups.tolist())
    for p in parts:  # windows keep their labels and recordings
        for w, lab, g in zip(p.windows, p.labels, p.groups):
            first = np.flatnonzero(ds.groups == g)
            assert ds.labels[first[0]] == lab
        assert p.classes == ds.classes


@settings(max_examples=40, deadline=None)
@given(per_class=st.lists(st.integers(1, 12), min_size=2, max_size=5), seed=st.integers(0, 1000))
def test_split_disjoint_stratified_deterministic(per_class: list[int], seed: int) -> None:
    ds = toy(per_class, 2)
    parts = D.split_by_group(ds, seed=seed)
    check_split(ds, parts)
    for c in range(len(per_class)):  # every class has a recording in train
        assert (parts[0].labels == c).any()
    again = D.split_by_group(ds, seed=seed)
    for a, b in zip(parts, again):
        np.testing.assert_array_equal(a.groups, b.groups)


@pytest.mark.parametrize("n, sizes", [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (6, (4, 1, 1)),
                                      (9, (7, 1, 1)), (10, (6, 2, 2)), (40, (28, 6, 6))])
def test_split_sizes_per_class(n: int, sizes: tuple[int, int, int]) -> None:
    ds = toy([n, n], 1)
    parts = D.split_by_group(ds, seed=3)
    for c in (0, 1):
        assert tuple(len(np.unique(p.groups[p.labels == c])) for p in parts) == sizes


def test_split_without_test_part_and_seeds_differ() -> None:
    ds = toy([10, 10], 2)
    train, val, test = D.split_by_group(ds, (0.8, 0.2, 0.0), seed=0)
    assert len(test.labels) == 0 and len(val.labels) == 2 * 2 * 2
    picks = {tuple(D.split_by_group(ds, seed=s)[0].groups.tolist()) for s in range(5)}
    assert len(picks) > 1
    with pytest.raises(MbnnError, match="fractions"):
        D.split_by_group(ds, (0.0, 0.5, 0.5))


def test_subset_and_summary() -> None:
    ds = toy([2, 3], 2)
    sub = D.subset(ds, ds.labels == 1)
    assert sub.labels.tolist() == [1] * 6 and sub.classes == ds.classes
    s = D.summary(ds)
    assert s["n"] == 10 and s["window"] == 50 and s["recordings"] == 5
    assert s["per_class"] == {"c0": 4, "c1": 6}
    assert s["recordings_per_class"] == {"c0": 2, "c1": 3}

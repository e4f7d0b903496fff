"""Labelled accelerometer data in memory: variable-length recordings, then
fixed-length windows.

Sources (`load_dataset(spec)` / `load_recordings(spec)`): a CSV folder
`ROOT/LABEL/NAME.csv` (train/csvdata.py), a CreateAI `.json` export
(train/createai.py), or `synthetic` / `synthetic:N` (train/synthetic.py, N
recordings per class). A folder really named `synthetic` is read as `./synthetic`.

Windowing rule, the same for every source and the one the device applies to its
live stream (classify the last L samples every hop). For a recording of T
samples and a window of L samples:
- T >= L: windows of L consecutive samples start at 0, hop, 2*hop, ... with
  hop = max(1, L // 5) (10 samples = 200 ms for L = 50); when the last start is
  not T - L, one more window ends at the last sample, so nothing is left out.
- T < L: the recording is centred in L samples and its first/last sample is
  repeated before/after it (edge padding: no resampling, so speeds stay true).
Every window cut from one recording shares its `groups` id, so splits never
put one recording in two parts. A recording named `NAME@SESSION` (a CSV file
`LABEL/NAME@SESSION.csv`; synthetic data names its simulated person so) belongs
to that session, e.g. a person or a day of recording: `sessions` numbers them,
and cross-validation keeps a session in one fold. Samples are int16 milli-g clipped to +/-2048
(the micro:bit's +/-2 g range), x, y, z, 50 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError

MAX_MG = 2048  # +/-2 g
MIN_SAMPLES = 10  # shorter recordings are refused (0.2 s)
PERIOD_MS = 20


@dataclass
class Recording:
    """One labelled recording before windowing."""

    label: str
    name: str
    samples: np.ndarray  # int16 [T, 3] milli-g


@dataclass
class Dataset:
    """Fixed-length labelled windows (see the module docstring for the rule)."""

    windows: np.ndarray  # int16 [N, L, 3] milli-g, x,y,z, 50 Hz
    labels: np.ndarray  # int64 [N], index into classes
    groups: np.ndarray  # int64 [N], recording id shared by windows of one recording
    classes: list[str] = field(default_factory=list)
    period_ms: int = PERIOD_MS
    source: str = ""
    sessions: np.ndarray | None = None  # int64 [N] session id per window; None when no recording names one


def session_of(name: str) -> str:
    """The session a recording named `NAME@SESSION` belongs to ("" when none)."""
    return name.rpartition("@")[2].strip() if "@" in name else ""


def clip_mg(values: np.ndarray) -> np.ndarray:
    """Round and clip to the micro:bit range; returns int16."""
    return np.clip(np.rint(values), -MAX_MG, MAX_MG).astype(np.int16)


def check_length(n: int, where: str) -> None:
    """Raise MbnnError when a recording of `n` samples is too short to use."""
    if n < MIN_SAMPLES:
        raise MbnnError(f"{where}: only {n} samples; a recording needs at least {MIN_SAMPLES} "
                        f"({MIN_SAMPLES * PERIOD_MS} ms): record it again or delete it")


def class_order(recordings: list[Recording]) -> list[str]:
    """Class names in order of first appearance."""
    return list(dict.fromkeys(r.label for r in recordings))


def check_classes(recordings: list[Recording], source: str) -> None:
    """Raise MbnnError unless the recordings cover at least two classes."""
    classes = class_order(recordings)
    if len(classes) < 2:
        found = f"only the class {classes[0]!r}" if classes else "no recordings"
        raise MbnnError(f"{source}: {found}; a classifier needs recordings of at least two classes")


def load_recordings(spec: str | Path, seed: int = 0, training: bool = False) -> list[Recording]:
    """Recordings of a CSV folder, a CreateAI .json file or `synthetic[:N]`
    (generated with `seed`). Raises MbnnError for unusable input. `training`: a
    class without recordings is an error in every format (train/createai.py)."""
    from microbit_nn.train import createai, csvdata, synthetic  # they import this module

    text = str(spec)
    if text == "synthetic" or text.startswith("synthetic:"):
        count = text.partition(":")[2] or str(synthetic.DEFAULT_PER_CLASS)
        if not count.isdigit() or int(count) < 1:
            raise MbnnError(f"bad data spec {text!r}: use 'synthetic' or 'synthetic:N' with N >= 1 recordings per class")
        recs = synthetic.make_recordings(int(count), seed)
    else:
        path = Path(spec)
        if path.is_dir():
            recs = csvdata.read_csv_folder(path)
        elif path.is_file() and path.suffix.lower() == ".json":
            recs = createai.read_createai(path, training)
        elif path.is_file():
            raise MbnnError(f"{path}: not a .json file; give a CreateAI .json export, a CSV folder or 'synthetic'")
        else:
            raise MbnnError(f"{path}: no such file or folder; give a CSV folder, a CreateAI .json export or 'synthetic'")
    check_classes(recs, text)
    return recs


def window_starts(length: int, window: int, hop: int) -> list[int]:
    """Start indices of the windows cut from a recording of `length` samples."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def cut_windows(samples: np.ndarray, window: int, hop: int) -> np.ndarray:
    """The windows [K, window, 3] of one recording (int16), by the module's rule."""
    length = len(samples)
    if length < window:
        left = (window - length) // 2
        pad = ((left, window - length - left), (0, 0))
        return np.pad(samples, pad, mode="edge")[None].astype(np.int16)
    return np.stack([samples[s:s + window] for s in window_starts(length, window, hop)]).astype(np.int16)


def default_hop(window: int) -> int:
    """The hop between windows of one recording: a fifth of the window."""
    return max(1, window // 5)


def windows_from_recordings(recordings: list[Recording], window: int = 50, hop: int | None = None,
                            classes: list[str] | None = None, source: str = "") -> Dataset:
    """Cut every recording into windows; `groups` is the recording's index in
    the list, labels index `classes` (default: order of first appearance)."""
    if window < MIN_SAMPLES:
        raise MbnnError(f"window of {window} samples is too short; use at least {MIN_SAMPLES}")
    hop = default_hop(window) if hop is None else hop
    classes = class_order(recordings) if classes is None else list(classes)
    index = {c: i for i, c in enumerate(classes)}
    parts, labels, groups = [], [], []
    for g, rec in enumerate(recordings):
        if rec.label not in index:
            raise MbnnError(f"recording {rec.name!r} has class {rec.label!r}, not one of {classes}")
        w = cut_windows(clip_mg(rec.samples), window, hop)
        parts.append(w)
        labels += [index[rec.label]] * len(w)
        groups += [g] * len(w)
    windows = np.concatenate(parts) if parts else np.zeros((0, window, 3), np.int16)
    names = [session_of(r.name) for r in recordings]
    sessions = None
    if any(names):
        ids = {n: i for i, n in enumerate(dict.fromkeys(names))}
        sessions = np.array([ids[names[g]] for g in groups], np.int64)
    return Dataset(windows, np.array(labels, np.int64), np.array(groups, np.int64), classes, PERIOD_MS, source,
                   sessions)


def load_dataset(spec: str | Path, window: int = 50, seed: int = 0) -> Dataset:
    """Load `spec` (CSV folder, CreateAI .json, `synthetic[:N]`) as windows of
    `window` samples; `seed` only affects synthetic data."""
    return windows_from_recordings(load_recordings(spec, seed), window, source=str(spec))


def subset(ds: Dataset, idx: np.ndarray) -> Dataset:
    """The windows at `idx` (indices or a boolean mask), same classes."""
    idx = np.asarray(idx)
    return Dataset(ds.windows[idx], ds.labels[idx], ds.groups[idx], list(ds.classes), ds.period_ms, ds.source,
                   None if ds.sessions is None else ds.sessions[idx])


def _part_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Recordings of one class for (train, val, test): rounded shares, at least
    one in val/test when the class has >= 3 recordings, at least one in train."""
    _, f_val, f_test = fractions
    sizes = []
    for f in (f_val, f_test):
        k = int(np.floor(f * n + 0.5))
        sizes.append(max(k, 1) if f > 0 and n >= 3 else k)
    k_val, k_test = sizes
    while n - k_val - k_test < 1:  # train keeps at least one recording
        if k_val >= k_test and k_val > 0:
            k_val -= 1
        else:
            k_test -= 1
    return n - k_val - k_test, k_val, k_test


def split_by_group(ds: Dataset, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                   seed: int = 0) -> tuple[Dataset, Dataset, Dataset]:
    """(train, val, test) by whole recordings, stratified by class,
    deterministic for `seed`. Every class with recordings gets at least one in
    train; a class with fewer than 3 recordings may be absent from val/test,
    which can then be empty."""
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0:
        raise MbnnError(f"bad split fractions {fractions}: give three shares (train, val, test), train > 0")
    total = float(sum(fractions))
    fr = tuple(f / total for f in fractions)
    rng = np.random.default_rng(seed)
    part_of_group: dict[int, int] = {}
    for c in range(len(ds.classes)):
        groups = np.unique(ds.groups[ds.labels == c])
        if len(groups) == 0:
            continue
        groups = rng.permutation(groups)
        n_train, n_val, _ = _part_sizes(len(groups), fr)
        for i, g in enumerate(groups.tolist()):
            part_of_group[g] = 0 if i < n_train else 1 if i < n_train + n_val else 2
    part = np.array([part_of_group[g] for g in ds.groups.tolist()], np.int64)
    return subset(ds, part == 0), subset(ds, part == 1), subset(ds, part == 2)


def summary(ds: Dataset) -> dict:
    """Counts for reports: n windows, window length, classes, windows and
    recordings per class."""
    per_class, recs = {}, {}
    for i, c in enumerate(ds.classes):
        sel = ds.labels == i
        per_class[c] = int(sel.sum())
        recs[c] = int(len(np.unique(ds.groups[sel])))
    return {"n": int(len(ds.labels)), "window": int(ds.windows.shape[1]), "period_ms": ds.period_ms,
            "classes": list(ds.classes), "per_class": per_class, "recordings_per_class": recs,
            "recordings": int(len(np.unique(ds.groups))), "source": ds.source}

"""CSV folders of recordings: `ROOT/LABEL/NAME.csv`, one per recording.

Each file has a header naming the columns `x,y,z` (any order; other columns,
e.g. a time stamp, are ignored) and one sample per line: integer milli-g at
50 Hz. This is what `mbnn record` writes and `mbnn data --csv` exports.
Folders and files whose names start with '.' and files that do not end in
`.csv` are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.train.datasets import Dataset, Recording, check_length, clip_mg, load_recordings

AXES = ("x", "y", "z")
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def read_csv(path: Path, label: str) -> Recording:
    """One recording file; raises MbnnError naming the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MbnnError(f"{path}: cannot read it ({exc}); check the file") from None
    lines = text.splitlines()
    if not lines or not any(line.strip() for line in lines):
        raise MbnnError(f"{path}:1: empty file; a recording needs the header x,y,z and samples")
    header = [h.strip().lower() for h in lines[0].split(",")]
    missing = [a for a in AXES if a not in header]
    if missing:
        raise MbnnError(f"{path}:1: header {lines[0].strip()!r} lacks column(s) {','.join(missing)}; "
                        "the first line must name the columns x,y,z")
    cols = [header.index(a) for a in AXES]
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(header):
            raise MbnnError(f"{path}:{n}: {len(fields)} values, the header has {len(header)}; fix or delete the line")
        row = []
        for a, c in zip(AXES, cols):
            try:
                row.append(int(fields[c].strip()))
            except ValueError:
                raise MbnnError(f"{path}:{n}: {a} = {fields[c].strip()!r} is not an integer (milli-g); "
                                "fix or delete the line") from None
        rows.append(row)
    check_length(len(rows), str(path))
    return Recording(label, Path(path).stem, clip_mg(np.array(rows, np.int64)))


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def read_csv_folder(root: Path) -> list[Recording]:
    """Every `ROOT/LABEL/*.csv`, classes and files in sorted order."""
    root = Path(root)
    if not root.is_dir():
        raise MbnnError(f"{root}: not a folder; give a folder of LABEL/NAME.csv recordings")
    stray = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if stray:
        raise MbnnError(f"{root}: {stray[0]} is not in a class folder; move recordings to {root}/LABEL/NAME.csv")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p))
    if not folders:
        raise MbnnError(f"{root}: no class folders; put recordings in {root}/LABEL/NAME.csv")
    recs = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and _visible(p) and p.suffix.lower() == ".csv")
        if not files:
            raise MbnnError(f"{folder}: empty class (no .csv recordings); record some or remove the folder")
        recs += [read_csv(f, folder.name) for f in files]
    return recs


def safe_name(name: str) -> str:
    """A file/folder name for a label or recording name (unsafe characters -> '_')."""
    clean = _UNSAFE.sub("_", str(name)).strip().rstrip(".")
    if clean in ("", ".", ".."):
        raise MbnnError(f"cannot use {name!r} as a file or folder name; rename the class or recording")
    return clean


def write_csv(samples: np.ndarray, path: Path) -> None:
    """One recording (int [T, 3] milli-g) as `x,y,z` lines."""
    body = "".join(f"{x},{y},{z}\n" for x, y, z in np.asarray(samples, np.int64).tolist())
    Path(path).write_text("x,y,z\n" + body, encoding="utf-8", newline="\n")


def write_csv_folder(recordings: list[Recording], root: Path) -> list[Path]:
    """Write `ROOT/LABEL/NAME.csv` for every recording (a clashing name gets a
    numeric suffix); returns the files written."""
    root = Path(root)
    written: list[Path] = []
    used: set[Path] = set()
    for rec in recordings:
        folder = root / safe_name(rec.label)
        folder.mkdir(parents=True, exist_ok=True)
        stem, k = safe_name(rec.name), 1
        path = folder / f"{stem}.csv"
        while path in used or path.exists():
            k += 1
            path = folder / f"{stem}-{k}.csv"
        used.add(path)
        write_csv(rec.samples, path)
        written.append(path)
    return written


def dataset_recordings(ds: Dataset) -> list[Recording]:
    """Each window of a Dataset as a recording named `w<index>_r<group>`."""
    return [Recording(ds.classes[int(c)], f"w{i:05d}_r{int(g):04d}", w)
            for i, (w, c, g) in enumerate(zip(ds.windows, ds.labels, ds.groups))]


def check_new_dir(out_dir: Path) -> Path:
    """`out_dir` as a Path; raises MbnnError unless it is missing or an empty folder."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MbnnError(f"{out} already exists and is not an empty folder; choose a new output folder")
    return out


def export_csv(data: Dataset | list[Recording] | str | Path, out_dir: Path, seed: int = 0) -> list[Path]:
    """Write recordings (or a data spec's raw, full-length recordings, or a
    Dataset's windows) as a CSV folder. `out_dir` must be new or empty.
    Returns the files written."""
    out = check_new_dir(out_dir)
    if isinstance(data, Dataset):
        recs = dataset_recordings(data)
    elif isinstance(data, list):
        recs = data
    else:
        recs = load_recordings(data, seed)
    return write_csv_folder(recs, out)

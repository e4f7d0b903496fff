"""micro:bit CreateAI JSON exports (github.com/microbit-foundation/ml-trainer).

The file is a JSON list of classes ("actions"):
`[{"name": "Shake", "recordings": [{"ID": 1, "data": {"x": [...], "y": [...], "z": [...]}}]}]`
with values in g at 50 Hz. We convert to int16 milli-g (rounded, clipped to
+/-2048). A class without recordings (CreateAI exports actions that were never
recorded) is refused for training, as a CSV class folder without files is (a
classifier cannot learn a class it has no data of), and skipped when the data
is only evaluated (it has no windows to score). Everything else that is
malformed raises MbnnError naming the class and recording.
"""

from __future__ import annotations

import json
import math
from numbers import Real
from pathlib import Path

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.train.datasets import Recording, check_length, clip_mg

AXES = ("x", "y", "z")


def _axis(values: object, where: str, axis: str) -> list[float]:
    if not isinstance(values, list):
        raise MbnnError(f"{where}: data.{axis} is missing or not a list; re-export the data from CreateAI")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
            raise MbnnError(f"{where}: data.{axis}[{i}] = {v!r} is not a number (g); re-export the data from CreateAI")
    return values


def _recording(label: str, k: int, rec: object, where: str) -> Recording:
    """One CreateAI recording as int16 milli-g."""
    data = rec.get("data") if isinstance(rec, dict) else None
    if not isinstance(data, dict):
        raise MbnnError(f"{where}: no 'data' object with x, y, z; re-export the data from CreateAI")
    axes = [_axis(data.get(a), where, a) for a in AXES]
    lengths = [len(a) for a in axes]
    if len(set(lengths)) != 1:
        raise MbnnError(f"{where}: x, y, z have different lengths {lengths}; delete or re-record it")
    check_length(lengths[0], where)
    samples = np.array(axes, np.float64).T * 1000.0  # g -> milli-g
    rec_id = rec.get("ID")
    name = f"r{k:03d}" + (f"_{rec_id}" if isinstance(rec_id, (int, str)) and not isinstance(rec_id, bool) else "")
    return Recording(label, name, clip_mg(samples))


def parse_createai(doc: object, source: str = "CreateAI data", training: bool = False) -> list[Recording]:
    """Recordings of a decoded CreateAI export, in file order. `training`: a class
    without recordings is an error (else it is skipped)."""
    if not isinstance(doc, list):
        raise MbnnError(f"{source}: expected a JSON list of classes; is this a CreateAI data export?")
    recs: list[Recording] = []
    seen: set[str] = set()
    for c, cls in enumerate(doc):
        where = f"{source}: class {c}"
        if not isinstance(cls, dict) or not isinstance(cls.get("name"), str) or not cls["name"].strip():
            raise MbnnError(f"{where}: no class name; every class needs a non-empty 'name'")
        name = cls["name"].strip()
        where = f"{source}: class {c} ({name!r})"
        if name in seen:
            raise MbnnError(f"{where}: the class name appears twice; rename one of them in CreateAI")
        seen.add(name)
        items = cls.get("recordings", [])
        if not isinstance(items, list):
            raise MbnnError(f"{where}: 'recordings' is not a list; re-export the data from CreateAI")
        if training and not items:
            raise MbnnError(f"{where}: no recordings; record this action in CreateAI or delete it, then export again")
        for k, rec in enumerate(items):
            recs.append(_recording(name, k, rec, f"{where} recording {k}"))
    return recs


def read_createai(path: Path, training: bool = False) -> list[Recording]:
    """Read a CreateAI .json export; raises MbnnError for unreadable or malformed files."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise MbnnError(f"{path}:{exc.lineno}: bad JSON ({exc.msg}, column {exc.colno}); "
                        "re-export the data from CreateAI") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MbnnError(f"{path}: cannot read it ({exc}); check the file") from None
    return parse_createai(doc, str(path), training)

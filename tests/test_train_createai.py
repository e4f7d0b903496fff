"""train/createai.py: the real CreateAI fixtures load in milli-g; malformed exports give clear errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.train import createai as A
from microbit_nn.train.datasets import default_hop, load_dataset, load_recordings, window_starts

FIXTURES = Path(__file__).parent / "fixtures" / "createai"
ACTION = FIXTURES / "action-data.json"
LEGACY = FIXTURES / "shake-still-circle-legacy-test-data.json"


def counts(recs) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in recs:
        out[r.label] = out.get(r.label, 0) + 1
    return out


def test_fixture_counts_and_order() -> None:
    assert counts(A.read_createai(ACTION)) == {"Shake": 9, "Still": 6, "Circle": 10}
    legacy = A.read_createai(LEGACY)  # its Circle class has no recordings: skipped
    assert counts(legacy) == {"Shake": 7, "Still": 7}
    assert load_dataset(str(ACTION)).classes == ["Shake", "Still", "Circle"]


@pytest.mark.parametrize("path", [ACTION, LEGACY])
def test_milli_g_conversion_against_raw_json(path: Path) -> None:
    doc = json.loads(path.read_text())
    recs = iter(A.read_createai(path))
    for cls in doc:
        for raw in cls["recordings"]:
            r = next(recs)
            want = np.array([[round(v * 1000) for v in raw["data"][a]] for a in "xyz"]).T
            assert r.samples.dtype == np.int16 and r.label == cls["name"]
            np.testing.assert_array_equal(r.samples, want)
    first = A.read_createai(ACTION)[0].samples
    assert first[0, :2].tolist() == [-112, 436] and first[4, 0] == -1508  # 0.436 g * 1000 is 435.99999...: rounded


def test_windows_of_fixture() -> None:
    ds = load_dataset(str(ACTION), window=50)
    recs = load_recordings(ACTION)
    assert len(ds.labels) == sum(len(window_starts(len(r.samples), 50, default_hop(50))) for r in recs)
    assert len(np.unique(ds.groups)) == 25
    assert np.abs(ds.windows).max() <= 2048


def minimal() -> list:
    rec = {"ID": 7, "data": {"x": [0.1] * 12, "y": [-0.2] * 12, "z": [1.0] * 12}}
    return [{"name": "A", "recordings": [rec, copy.deepcopy(rec)]}, {"name": "B", "recordings": [copy.deepcopy(rec)]}]


def test_minimal_document() -> None:
    recs = A.parse_createai(minimal(), "m.json")
    assert [(r.label, r.name) for r in recs] == [("A", "r000_7"), ("A", "r001_7"), ("B", "r000_7")]
    assert recs[0].samples[0].tolist() == [100, -200, 1000]


def broken(change) -> list:
    doc = minimal()
    change(doc)
    return doc


@pytest.mark.parametrize("change, pattern", [
    (lambda d: d[1]["recordings"][0]["data"]["x"].pop(), r"class 1 \('B'\) recording 0: x, y, z have different lengths"),
    (lambda d: d[0]["recordings"][1]["data"].pop("z"), r"class 0 \('A'\) recording 1: data.z is missing"),
    (lambda d: d[0]["recordings"][1].pop("data"), r"class 0 \('A'\) recording 1: no 'data'"),
    (lambda d: d[0]["recordings"][0]["data"]["y"].__setitem__(3, "a"), r"recording 0: data.y\[3\] = 'a' is not a number"),
    (lambda d: d[0]["recordings"][0]["data"]["y"].__setitem__(4, None), r"data.y\[4\] = None is not a number"),
    (lambda d: d[0]["recordings"][0]["data"]["x"].__setitem__(0, True), r"data.x\[0\] = True is not a number"),
    (lambda d: d[1]["recordings"].__setitem__(0, {"data": {"x": [0] * 5, "y": [0] * 5, "z": [0] * 5}}),
     r"class 1 \('B'\) recording 0: only 5 samples"),
    (lambda d: d[1].pop("name"), r"class 1: no class name"),
    (lambda d: d[1].__setitem__("name", "A"), r"class 1 \('A'\): the class name appears twice"),
    (lambda d: d[1].__setitem__("recordings", {}), r"class 1 \('B'\): 'recordings' is not a list"),
    (lambda d: d[1].__setitem__("recordings", []), r"only the class 'A'"),
    (lambda d: d.clear(), r"no recordings"),
])
def test_malformed_documents(tmp_path: Path, change, pattern: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(broken(change)))
    with pytest.raises(MbnnError, match=pattern) as err:
        load_recordings(f)
    assert "bad.json" in str(err.value)


@pytest.mark.parametrize("text, pattern", [
    ("", r"bad.json:1: bad JSON"),
    ('[{"name": "A",\n "recordings": [}]', r"bad.json:2: bad JSON"),
    ('{"name": "A"}', r"expected a JSON list of classes"),
])
def test_bad_json(tmp_path: Path, text: str, pattern: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(text)
    with pytest.raises(MbnnError, match=pattern):
        A.read_createai(f)

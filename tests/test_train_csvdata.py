"""train/csvdata.py and `mbnn data`: CSV folders round-trip, clear errors, export."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.host import cmd_data
from microbit_nn.train import csvdata as C
from microbit_nn.train.datasets import Recording, load_dataset, load_recordings

FIXTURES = Path(__file__).parent / "fixtures" / "createai"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def good_rows(n: int = 12) -> str:
    return "".join(f"{i},{-i},{1000 + i}\n" for i in range(n))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lengths=st.lists(st.integers(10, 80), min_size=2, max_size=6), seed=st.integers(0, 2**16))
def test_write_read_round_trip(tmp_path_factory, lengths: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    recs = [Recording(["still", "shake"][i % 2], f"rec{i}", rng.integers(-2048, 2049, (n, 3)).astype(np.int16))
            for i, n in enumerate(lengths)]
    root = tmp_path_factory.mktemp("csv")
    files = C.write_csv_folder(recs, root)
    assert len(files) == len(recs)
    back = {(r.label, r.name): r.samples for r in C.read_csv_folder(root)}
    assert len(back) == len(recs)
    for r in recs:
        got = back[(r.label, r.name)]
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, r.samples)


def test_header_order_extra_columns_blank_lines_and_clipping(tmp_path: Path) -> None:
    text = "t, Z ,y,x\n" + "".join(f"{i * 20},{3000},{-i},{i}\n" for i in range(10)) + "\n\n"
    r = C.read_csv(write(tmp_path / "a.csv", text), "lab")
    assert r.label == "lab" and r.name == "a"
    np.testing.assert_array_equal(r.samples[:, 0], np.arange(10))
    np.testing.assert_array_equal(r.samples[:, 1], -np.arange(10))
    assert (r.samples[:, 2] == 2048).all()


@pytest.mark.parametrize("text, line, pattern", [
    ("", 1, "empty file"),
    ("\n\n", 1, "empty file"),
    ("x,y\n1,2\n", 1, "lacks column.*z"),
    ("a,b,c\n1,2,3\n", 1, "lacks column.*x,y,z"),
    ("x,y,z\n" + good_rows(3) + "1,2\n" + good_rows(), 5, "2 values, the header has 3"),
    ("x,y,z\n" + good_rows(4) + "1,two,3\n" + good_rows(), 6, "y = 'two' is not an integer"),
    ("x,y,z\n" + good_rows(4) + "1,2,3.5\n" + good_rows(), 6, "z = '3.5' is not an integer"),
    ("x,y,z\n" + good_rows(4) + "1,,3\n" + good_rows(), 6, "y = '' is not an integer"),
])
def test_corrupt_file_names_file_and_line(tmp_path: Path, text: str, line: int, pattern: str) -> None:
    f = write(tmp_path / "lab" / "bad.csv", text)
    with pytest.raises(MbnnError, match=pattern) as err:
        C.read_csv(f, "lab")
    assert f"{f}:{line}:" in str(err.value)


def test_short_recording(tmp_path: Path) -> None:
    f = write(tmp_path / "s.csv", "x,y,z\n" + good_rows(9))
    with pytest.raises(MbnnError, match=r"s\.csv: only 9 samples; .*at least 10"):
        C.read_csv(f, "lab")


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(MbnnError, match="not a folder"):
        C.read_csv_folder(tmp_path / "missing")
    with pytest.raises(MbnnError, match="no class folders"):
        C.read_csv_folder(tmp_path)
    write(tmp_path / "a" / "1.csv", "x,y,z\n" + good_rows())
    (tmp_path / "b").mkdir()
    write(tmp_path / "b" / "notes.txt", "hello")
    with pytest.raises(MbnnError, match=r"b: empty class"):
        C.read_csv_folder(tmp_path)
    (tmp_path / "b" / "notes.txt").unlink()
    (tmp_path / "b").rmdir()
    with pytest.raises(MbnnError, match="only the class 'a'"):
        load_recordings(tmp_path)
    write(tmp_path / "stray.csv", "x,y,z\n" + good_rows())
    with pytest.raises(MbnnError, match="stray.csv is not in a class folder"):
        C.read_csv_folder(tmp_path)


def test_hidden_and_non_csv_entries_are_ignored(tmp_path: Path) -> None:
    for lab in ("a", "b"):
        write(tmp_path / lab / "1.csv", "x,y,z\n" + good_rows())
        write(tmp_path / lab / ".1.csv", "garbage")
        write(tmp_path / lab / "README", "garbage")
    write(tmp_path / ".git" / "x.csv", "garbage")
    recs = C.read_csv_folder(tmp_path)
    assert [(r.label, r.name) for r in recs] == [("a", "1"), ("b", "1")]


def test_name_clashes_and_unsafe_names(tmp_path: Path) -> None:
    s = np.zeros((10, 3), np.int16)
    files = C.write_csv_folder([Recording("a/b", "r:1", s), Recording("a/b", "r:1", s + 1), Recording("c", "x", s)], tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a_b/r_1.csv", "a_b/r_1-2.csv", "c/x.csv"]
    with pytest.raises(MbnnError, match="rename"):
        C.safe_name("..")


def test_export_spec_raw_recordings(tmp_path: Path) -> None:
    src = FIXTURES / "action-data.json"
    files = C.export_csv(str(src), tmp_path / "out")
    assert len(files) == 25
    back = load_recordings(tmp_path / "out")
    orig = load_recordings(src)
    key = lambda r: (r.label, r.name)  # noqa: E731
    for a, b in zip(sorted(orig, key=key), sorted(back, key=key)):
        assert key(a) == key(b)
        np.testing.assert_array_equal(a.samples, b.samples)
    with pytest.raises(MbnnError, match="not an empty folder"):
        C.export_csv(str(src), tmp_path / "out")


def test_export_dataset_windows(tmp_path: Path) -> None:
    ds = load_dataset("synthetic:2", seed=1)
    C.export_csv(ds, tmp_path / "w")
    back = load_dataset(tmp_path / "w", window=ds.windows.shape[1])
    assert len(back.labels) == len(ds.labels)
    got = {(back.classes[int(lab)], w.tobytes()) for w, lab in zip(back.windows, back.labels)}
    want = {(ds.classes[int(lab)], w.tobytes()) for w, lab in zip(ds.windows, ds.labels)}
    assert got == want


def run_data(argv: list[str]) -> int:
    """`mbnn data ARGS` without the rest of the command table."""
    parser = argparse.ArgumentParser()
    cmd_data.add_arguments(parser)
    return cmd_data.run(parser.parse_args(argv))


def test_cli_data_summary_and_csv_export(tmp_path: Path, capsys) -> None:
    out = tmp_path / "csv"
    assert run_data([str(FIXTURES / "shake-still-circle-legacy-test-data.json"), "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "14 recordings" in text and "Shake" in text and "Still" in text
    assert sorted(p.name for p in out.iterdir()) == ["Shake", "Still"]
    assert len(list((out / "Still").glob("*.csv"))) == 7
    with pytest.raises(MbnnError, match="not an empty folder"):
        run_data([str(out), "--out", str(out)])
    with pytest.raises(MbnnError, match="no such file or folder"):
        run_data([str(tmp_path / "nothing")])

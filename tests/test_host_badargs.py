"""Every bad value gives one clear line, never a traceback (host/argtypes.py and
the commands' own checks): export, build, stream, record, replay, flash,
selftest, bench, budget.

Run in-process through the real entry point (microbit_nn.host.cli.main): a
value argparse refuses exits 2 with usage and `error: argument ...: ... give
...`; a value only the command can judge exits 1 with a single `error:` line,
before any board is opened (the ports given here do not exist)."""

from __future__ import annotations

import pytest

from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.hexbuild import build_hex
from microbit_nn.host.cli import main

NO_PORT = "/nonexistent/ttyACM9"


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    random_qmodel("mlp", seed=1).save(d / "model_int8.json")  # classes c0..c3
    return str(d)


@pytest.mark.parametrize("argv, allowed", [
    (["replay", "M", "D", "--port", "P", "--limit", "-2"], "whole number of at least 1"),
    (["replay", "M", "D", "--port", "P", "--limit", "0"], "whole number of at least 1"),
    (["replay", "M", "D", "--port", "P", "--limit", "x"], "'x' is not a number: allowed is a whole number"),
    (["replay", "M", "D", "--emulator", "--timeout", "0"], "number greater than 0"),
    (["replay", "M", "D", "--port", ""], "the port is empty"),
    (["record", "shake", "--seconds", "-1"], "'-1' is not allowed: give at least one window of the model on the micro:bit: 1 s for "
                                             "the 50 samples at 20 ms"),
    (["record", "shake", "--seconds", "0"], "give at least one window of the model"),
    (["record", "shake", "--seconds", "nan"], "'nan' is not allowed: give at least one window"),
    (["record", "shake", "--count", "0"], "whole number of at least 1"),
    (["record", "shake", "--count", "2.5"], "'2.5' is not a number: allowed is a whole number of at least 1"),
    (["record", "shake", "--countdown", "-1"], "whole number of at least 0"),
    (["record", "shake", "--wait", "-3"], "number greater than 0"),
    (["record", "shake", "--port", " "], "the port is empty"),
    (["stream", "--count", "0"], "whole number of at least 1"),
    (["stream", "--timeout", "-1"], "number greater than 0"),
    (["stream", "--timeout", "inf"], "'inf' is not a finite number: allowed is a number greater than 0"),
    (["stream", "--reconnect", "-5"], "number of at least 0"),
    (["stream", "--port", ""], "the port is empty"),
    (["flash", "x.hex", "--timeout", "0"], "number greater than 0"),
    (["flash", "x.hex", "--port", ""], "the port is empty"),
    (["selftest", "--port", "P", "--timeout", "-1"], "number greater than 0"),
    (["selftest", "--port", ""], "the port is empty"),
    (["bench", "--windows", "0"], "whole number of at least 1"),
    (["bench", "--target", "v3"], "invalid choice"),
    (["budget", "M", "--target", "v3"], "invalid choice"),
    (["export", "M", "--target", "v0"], "invalid choice"),
    (["build", "M", "--target", "V1"], "invalid choice"),
])
def test_argparse_refuses_with_what_is_allowed(argv, allowed, capsys):
    rc, err = run(argv, capsys)
    assert rc == 2 and err.startswith("usage: mbnn %s" % argv[0]), err
    (line,) = [l for l in err.splitlines() if "error:" in l]
    assert line.startswith("mbnn %s: error: argument " % argv[0]) and allowed in line, err


def one_line(argv: list[str], capsys, says: str) -> None:
    rc, err = run(argv, capsys)
    assert rc == 1 and err.count("\n") == 1 and err.startswith("error: ") and says in err, err


def test_outputs_that_cannot_be_written(tmp_path, model, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    one_line(["record", "shake", "--out", str(tmp_path / "file"), "--port", NO_PORT], capsys,
             "is a file: give --out a dataset folder")
    one_line(["build", model, "-o", str(tmp_path / "dir")], capsys, "is a folder: give the .hex file to write")
    one_line(["export", model, "--out", str(tmp_path / "file")], capsys, "is a file: choose a folder name")
    one_line(["export", model, "--out", str(tmp_path / "mine")], capsys,
             "a folder with other files in it and export replaces the whole folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # checked before the port is opened: the error is about the CSV file, not the missing port
    one_line(["stream", "--csv", "/nonexistent/x.csv", "--port", NO_PORT], capsys,
             "cannot append to --csv /nonexistent/x.csv (No such file or directory)")
    one_line(["stream", "--csv", str(tmp_path / "dir"), "--port", NO_PORT], capsys, "cannot append to --csv")


def test_replay_refuses_data_without_the_models_classes(model, capsys):
    # synthetic gestures have none of c0..c3; refused before any port is opened
    one_line(["replay", model, "synthetic", "--port", NO_PORT], capsys,
             "none of them is the model's (['c0', 'c1', 'c2', 'c3']): replay data recorded for this model")


def test_a_v2_hex_for_the_emulator(tmp_path, capsys):
    v2 = tmp_path / "v2.hex"
    v2.write_text(build_hex({"main.py": b"print(1)\n"}, "v2"))
    says = "is a hex for the V2; the emulator runs V1 builds: make one with 'mbnn build MODEL --target v1'"
    one_line(["stream", "--emulator", str(v2)], capsys, says)
    one_line(["replay", str(v2), "synthetic", "--emulator"], capsys, says)
    one_line(["selftest", "--emulator", str(v2)], capsys, says)


def test_a_missing_port_is_one_line(tmp_path, capsys):
    one_line(["stream", "--port", NO_PORT, "--count", "1"], capsys, "does not exist: check --port")
    one_line(["record", "shake", "--port", NO_PORT, "--out", str(tmp_path)], capsys, "does not exist: check --port")
    assert not any(tmp_path.iterdir())

"""`mbnn train` / `eval` / `data` as a user meets them: bad values are one usage
line, inputs are checked before training, and a failed or interrupted train
leaves the previous model folder byte for byte as it was."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microbit_nn.host.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "createai"
MBNN = str(Path(sys.executable).with_name("mbnn"))

BAD = [
    ["train", "synthetic", "--hidden", "-5"], ["train", "synthetic", "--hidden", "0"],
    ["train", "synthetic", "--seed", "-1"], ["train", "synthetic", "--epochs", "-1"],
    ["train", "synthetic", "--epochs", "0"], ["train", "synthetic", "--epochs", "x"],
    ["train", "synthetic", "--target", "v3"], ["train", "synthetic", "--model", "rnn"],
    ["eval", "m", "synthetic", "--seed", "-1"], ["data", "synthetic", "--window", "5"],
    ["data", "synthetic", "--window", "1000"], ["data", "synthetic", "--seed", "-3"],
]


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a))
def test_a_bad_value_is_one_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and any(w in errors[0] for w in ("allowed", "give", "choose from", "invalid"))


def _tree(path: Path) -> dict:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def old_model(tmp_path_factory):
    """A model folder as an earlier `mbnn train` left it."""
    out = tmp_path_factory.mktemp("old") / "model"
    assert main(["train", "synthetic:4", "--model", "mlp", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name, data in _tree(src).items():
        (dst / name).write_bytes(data)
    return dst


@pytest.mark.parametrize("argv, message", [
    (["synthetic:4", "--hidden", "8"], "--hidden sets the size of one family"),
    ([str(FIXTURES / "action-data.json"), "--test-data", "synthetic:2"], r"--test-data synthetic:2 has classes \['flick', 'tilt'\]"),
    (["synthetic:4", "--exclude", "wave"], "--exclude wave: .* no such class"),
])
def test_bad_inputs_fail_before_training_and_keep_the_old_model(argv, message, old_model, tmp_path, capsys):
    out = _copy(old_model, tmp_path / "m")
    before = _tree(out)
    assert main(["train", "--out", str(out), "--quiet"] + argv) == 1
    import re

    assert re.search(message, capsys.readouterr().err)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder left behind


def test_out_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("keep")
    assert main(["train", "synthetic:4", "--out", str(f), "--quiet"]) == 1
    assert "is a file" in capsys.readouterr().err and f.read_text() == "keep"


def test_a_createai_class_without_recordings_is_refused_for_training(tmp_path, capsys):
    data = tmp_path / "d.json"
    doc = json.loads((FIXTURES / "action-data.json").read_text())
    doc.append({"name": "Wave", "recordings": []})
    data.write_text(json.dumps(doc))
    assert main(["train", str(data), "--out", str(tmp_path / "m"), "--quiet"]) == 1
    assert "('Wave'): no recordings" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def _wait(pred, proc, timeout=120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if pred():
            return True
        time.sleep(0.01)
    return False


def _torch_loading(pid: int):
    def check() -> bool:
        try:
            return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            return False
    return check


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("point", ["importing torch", "cross-validating", "files written"])
def test_ctrl_c_at_any_point_keeps_the_old_model(point, old_model, tmp_path):
    out = _copy(old_model, tmp_path / "m")
    before = _tree(out)
    proc = subprocess.Popen([MBNN, "train", "synthetic:6", "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tmp_files = lambda name: list(tmp_path.glob(f".m.tmp-*/{name}"))  # noqa: E731
    if point == "importing torch":
        reached = _wait(_torch_loading(proc.pid), proc)
    elif point == "cross-validating":
        reached = _wait(lambda: bool(list(tmp_path.glob(".m.tmp-*"))), proc)
        time.sleep(1.0)
    else:
        reached = _wait(lambda: bool(tmp_files("model_int8.json")), proc, timeout=300)
    assert reached, f"the run never reached {point}"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    if proc.returncode == 0:  # finished before the signal landed: the new model, whole
        assert (out / "report.json").is_file() and _tree(out) != before
    else:
        assert proc.returncode == 130 and "interrupted" in err
        assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_the_report_says_whether_the_model_fits(old_model, tmp_path, capsys):
    """report.json carries the budget's verdict for the target, and a model that does not
    fit is said so at the end of training, not only when `mbnn build` refuses it."""
    import json

    from microbit_nn.export.budget import estimate
    from microbit_nn.export.qmodel import load_model

    r = json.loads((old_model / "report.json").read_text())
    b = estimate(load_model(old_model), "v1")
    assert r["budget"] == {"estimate_free": b.estimate_free, "verdict": b.verdict, "min_free": b.min_free}
    out = tmp_path / "big"
    assert main(["train", "synthetic:4", "--model", "mlp", "--hidden", "128", "--epochs", "1", "--out", str(out)]) == 0
    said = " ".join(" ".join(capsys.readouterr()).split())
    assert json.loads((out / "report.json").read_text())["budget"]["verdict"] == "does not fit"
    assert "it does not fit the V1 by the budget's estimate" in said and "'mbnn build' will refuse it" in said

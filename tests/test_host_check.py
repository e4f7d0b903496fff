"""`mbnn check` (host/cmd_check.py) on the simulated micro:bit and on the emulated V1.

The simulated board runs the real app's all-Python build under CPython; the
emulated V1 runs the engine build. The oracle is export/reference.py: with
MODEL the replayed logits must equal it, and a board running another model
must fail the check. Boards that fail their selftest, name no kernels, or stop
answering must give FAIL lines and exit code 1.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from microbit_nn.export import reference
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.writer import device_files
from microbit_nn.host import cmd_check, discover
from microbit_nn.host.cli import main
from microbit_nn.host.cmd_bench import bench_windows
from microbit_nn.host.device import Prediction
from microbit_nn.host.sim import STUB_MAIN, SimDevice



from conftest import needs_qemu  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """Two models with the same classes and window but other weights: "a" runs on the boards."""
    out = {}
    for name, seed in (("a", 11), ("b", 12)):
        qm = random_qmodel("mlp", seed=seed, n_classes=3)
        d = tmp_path_factory.mktemp("model-" + name)
        qm.save(d / "model_int8.json")
        out[name], out[name + "_dir"] = qm, str(d)
    wins = bench_windows(out["a"].window, cmd_check.N_WINDOWS)
    assert (reference.run(out["a"], wins) != reference.run(out["b"], wins)).any()  # "b" is told apart
    return out


def lines(out: str) -> dict[str, str]:
    """Check name -> 'ok ...'/'FAIL ...' (spaces squeezed) from the text report."""
    found = {}
    for line in out.splitlines():
        name, _, rest = line.partition(" ")
        found[name] = " ".join(rest.split())
    return found


def test_python_build_on_the_simulated_board(models, capsys):
    with SimDevice(device_files(models["a"], "v1", asm=False)) as sim:
        assert main(["check", models["a_dir"], "--port", sim.port, "--json"]) == 0, sim.stderr()
        r = json.loads(capsys.readouterr().out)
        # the same board, told it should run model "b": every logit differs from b's reference
        assert main(["check", models["b_dir"], "--port", sim.port, "--no-repl"]) == 1
        text = capsys.readouterr().out
    assert r["ok"] and all(c["ok"] for c in r["checks"])
    assert [c["name"] for c in r["checks"]] == ["banner", "selftest", "replay", "repeat", "reference", "heap",
                                                "restart"]
    assert r["device"]["kernels"] == "python" and r["device"]["classes"] == models["a"].classes
    assert r["selftest"]["failed"] == 0 and r["selftest"]["passed"] >= 6
    assert r["replay"] == {"windows": 4, "valid": 5, "repeatable": True, "bit_exact": 4}
    assert r["free_after"] == 8000  # what the simulator reports as gc.mem_free()
    assert r["micropython"] == "MicroPython (simulated micro:bit, CPython)" and r["board"] is None
    assert r["summary"].startswith("mbnn check: all 7 ok | mbnn ") and "kernels python" in r["summary"]
    got = lines(text)
    assert got["reference"].startswith("FAIL 0 of 4 windows bit-exact")
    assert got["selftest"].startswith("ok") and got["replay"].startswith("ok") and "restart" not in got
    assert text.splitlines()[-1].startswith("mbnn check: FAIL reference | ")
    assert "bit-exact 0/4" in text.splitlines()[-1]


def test_stub_board_fails_its_selftest_and_names_no_kernels(capsys):
    """The protocol stub: an old banner (no kernels field), a selftest with one failure."""
    with SimDevice({"main.py": STUB_MAIN}, speed=4.0) as sim:
        assert main(["check", "--port", sim.port, "--timeout", "3"]) == 1
    got = lines(capsys.readouterr().out)
    assert got["banner"].startswith("FAIL") and "kernels unknown" in got["banner"]
    assert got["selftest"] == "FAIL 1 passed, 1 failed: mul 3 != 4"
    assert got["replay"].startswith("ok 5 of 5") and got["repeat"].startswith("ok")
    assert got["mbnn"].startswith("check: FAIL banner,selftest | ")


SILENT_MAIN = r'''
from microbit import uart, sleep
B = "I mbnn 0.1.0 mlp 50 20 250 5000 a,b engine"
print(B)
b = b""
while True:
    b += uart.read(32) or b""
    if b"\n" in b:
        l, b = b.split(b"\n", 1)
        if l.strip() == b"!i":
            print(B)
    sleep(5)
'''


def test_board_that_stops_answering(capsys):
    """A board that answers only '!i': the selftest times out, the check stops there."""
    with SimDevice({"main.py": SILENT_MAIN}) as sim:
        assert main(["check", "--port", sim.port, "--timeout", "2", "--json"]) == 1
    r = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["ok"]) for c in r["checks"]] == [("banner", True), ("selftest", False)]
    assert "did not answer '!t' within 2 s" in r["error"]
    assert "| stopped: the micro:bit did not answer '!t'" in r["summary"] and "replay not run" in r["summary"]


def test_prediction_problems():
    assert cmd_check.prediction_problems(Prediction(1, 2, 90, (-5, 3, 40)), 3) == []
    assert cmd_check.prediction_problems(Prediction(1, -1, 0, (0, 0, 0)), 3) == []  # unknown, a tie
    bad = {(-5, 3): "2 logits for 3 classes", (-5, 3, 40, 1): "4 logits"}
    for logits, want in bad.items():
        assert want in cmd_check.prediction_problems(Prediction(1, 0, 50, logits), 3)[0]
    assert cmd_check.prediction_problems(Prediction(1, 3, 50, (1, 2, 3)), 3) == ["class index 3 outside -1..2"]
    assert cmd_check.prediction_problems(Prediction(1, 2, 101, (1, 2, 3)), 3) == ["confidence 101% outside 0..100"]
    assert cmd_check.prediction_problems(Prediction(1, 2, 50, (1, 2, 300)), 3) == ["a logit outside int8"]
    assert cmd_check.prediction_problems(Prediction(1, 0, 50, (1, 2, 3)), 3) == ["class 0 is not the largest logit"]


def test_board_of_micropython_banner():
    assert cmd_check.board_of("MicroPython v1.9.2-34-gd64154c73 on 2017-09-01; micro:bit v1.1.1 with nRF51822") == "v1"
    assert cmd_check.board_of("MicroPython v1.18 on 2023-10-30; micro:bit v2.1.2 with nRF52833") == "v2"
    assert cmd_check.board_of("MicroPython (simulated micro:bit, CPython)") is None
    assert cmd_check.board_of(None) is None


def test_reference_refuses_another_model(models):
    meta = {"classes": ["shake", "still", "tilt"], "window": 50}
    facts: dict = {}
    c = cmd_check.check_reference(meta, models["a"], np.zeros((1, 50, 3), np.int64), [], facts)
    assert not c.ok and "runs another model" in c.detail and facts["bit_exact"] == 0


def test_clear_errors(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(discover, "serial_ports", lambda: [])
    assert main(["check"]) == 1
    assert "error: no micro:bit serial port found" in capsys.readouterr().err
    assert main(["check", "--hex", "x.hex"]) == 1
    assert "add --emulator" in capsys.readouterr().err
    from microbit_nn.export.hexbuild import build_hex, write_hex

    v2 = write_hex(build_hex(device_files(random_qmodel("mlp"), "v2"), "v2"), tmp_path / "v2.hex")
    assert main(["check", "--emulator", "--hex", str(v2)]) == 1  # refused before QEMU starts
    assert "is a hex for the V2; the emulator runs V1 builds" in capsys.readouterr().err
    assert main(["check", "no-such-model", "--port", "loop://"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


@needs_qemu
def test_engine_build_on_the_emulated_v1(models, capsys):
    t = time.monotonic()
    assert main(["check", models["a_dir"], "--emulator", "--json"]) == 0
    took = time.monotonic() - t
    r = json.loads(capsys.readouterr().out)
    print("\nmbnn check on the emulated V1 (boot included): %.1f s" % took)
    assert r["ok"] and r["device"]["kernels"] == "engine" and r["board"] == "v1"
    assert "nRF51822" in r["micropython"] and r["micropython"].startswith("MicroPython v1.9.2")
    assert r["replay"] == {"windows": 4, "valid": 5, "repeatable": True, "bit_exact": 4}
    assert r["selftest"]["failed"] == 0 and r["selftest"]["passed"] >= 6  # the model on 6 windows
    assert 1024 <= r["free_after"] <= r["device"]["free"] + 100
    assert "| board v1 | MicroPython v1.9.2" in r["summary"]


@needs_qemu
def test_emulated_hex_running_another_model_fails(models, tmp_path, capsys):
    from microbit_nn.export.hexbuild import build_hex, write_hex

    hexfile = write_hex(build_hex(device_files(models["a"], "v1"), "v1"), tmp_path / "a.hex")
    assert main(["check", models["b_dir"], "--emulator", "--hex", str(hexfile), "--no-repl"]) == 1
    out = capsys.readouterr().out
    got = lines(out)
    assert got["banner"].startswith("ok") and "kernels engine" in got["banner"]
    assert got["reference"].startswith("FAIL 0 of 4 windows bit-exact with MODEL's reference; window 0: board ")
    assert out.splitlines()[-1].startswith("mbnn check: FAIL reference | ")

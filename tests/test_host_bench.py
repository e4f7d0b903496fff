"""host/cmd_bench.py and firmware/bn.py (`mbnn bench`).

Oracles: the numpy reference (the logits the bench's device run prints must
equal export.reference.run on the same windows), the writer's own pruning
(closure) for the kernel variants, and hand-made bench output for the parser.
On the emulated V1 instruction counts are deterministic (-icount shift=0), so
two runs must agree; they are never compared with wall-clock time.
"""

from __future__ import annotations

import gc
import json
import sys

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.export import reference
from microbit_nn.export.plan import kernels
from microbit_nn.export.writer import closure, device_files
from microbit_nn.host import cmd_bench as cb
from microbit_nn.host.cli import main

from conftest import make_qmodel

from conftest import needs_qemu  # noqa: E402
KEYS = {"macs", "instr_per_inference", "instr_features", "instr_per_prediction", "instr_per_mac_fast",
        "instr_per_mac_python", "speedup", "latency_ms_v1", "latency_ms_v2_estimate", "same_files_v1_v2", "free_heap", "model"}


@pytest.fixture(scope="module")
def mlp():
    return make_qmodel("mlp", np.random.default_rng(7))


@pytest.fixture(scope="module")
def cnn():
    return make_qmodel("cnn", np.random.default_rng(8))


def _defs(src: bytes) -> set[str]:
    import ast

    return {d.name for d in ast.parse(src.decode()).body if isinstance(d, ast.FunctionDef)}


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_variant_files_engine_or_python(kind, mlp, cnn):
    qm = mlp if kind == "mlp" else cnn
    used = set(kernels(qm)) | {"amax", "conf"}
    qk_src = (cb.Path(cb.FIRMWARE_DIR) / "qk.py").read_text()
    slow = cb.variant_files(qm, "qk")
    assert "qa.py" not in slow and "p.bin" not in slow
    assert _defs(slow["qk.py"]) == set(closure(qk_src, sorted(used)))
    fast = cb.variant_files(qm, "engine")
    assert "p.bin" in fast and "qk.py" not in fast
    assert slow == device_files(qm, asm=False) and fast == device_files(qm)  # the engine is the V1 default


def test_bench_windows_deterministic_and_shaped():
    a, b = cb.bench_windows(50, 5), cb.bench_windows(50, 5)
    assert a.shape == (5, 50, 3) and a.dtype == np.int16
    assert np.array_equal(a, b)
    assert len({w.tobytes() for w in a}) == 5  # one recording per class
    assert cb.bench_windows(120, 2).shape == (2, 120, 3)  # longer than a recording: cycled


def test_parse_bench_averages_windows():
    text = "\n".join([
        "B m 0 ft feats", "B m 1 qk featq", "B m 1 qk rq", "B m 2 qa dense", "B m 2 qk dense",
        "B s 0 10 3000 0", "B s 1 4 400 16", "B s 2 2 100 0", "B y 1 -2 3", "B r 5 500 1200", "B a 1 10 0",
        "B e 2 40 0", "B c 3 9000 2416", "P 0 2 99 1 -2 3",
        "B s 0 10 5000 0", "B s 1 4 800 32", "B s 2 2 300 0", "B y 4 5 6", "B r 5 700 1200", "B a 1 30 0",
        "B e 2 80 0", "B c 3 12000 2400", "B f 2048", "B end"])
    r = cb.parse_bench(text, ["feats", "featq", "dense"])
    assert [s["instr"] for s in r["steps"]] == [400_000, 150_000, 100_000]
    assert [s["module"] for s in r["steps"]] == ["ft", "qk", "qa/qk"]
    assert r["instr_ring"] == 2 * 120_000 and r["instr_output"] == 20_000 + 30_000
    assert r["instr_per_prediction"] == 3_500_000
    assert r["logits"] == [[1, -2, 3], [4, 5, 6]] and r["free_bench"] == 2048
    # garbage: the most one call left (a collection inside a call can only hide some)
    assert [s["bytes"] for s in r["steps"]] == [0, 32, 0]
    assert r["bytes_ring"] == 2400 and r["bytes_per_prediction"] == 2432  # the parts: more than "c" saw


def test_parse_bench_refuses_a_crash():
    with pytest.raises(MbnnError, match="no complete measurement"):
        cb.parse_bench("B m 0 ft feats\nB s 0 1 5 0\nTraceback\nMemoryError:", ["feats", "featq"])


def test_target_v2_is_refused_when_its_files_differ(mlp, monkeypatch):
    """Nothing emulates a V2: its figures exist only while it gets the V1's very files."""
    real = cb.device_files
    monkeypatch.setattr(cb, "device_files", lambda qm, target, **k: dict(real(qm, target, **k), **(
        {"x.py": b"1"} if target == "v2" else {})))
    with pytest.raises(MbnnError, match="differs from every V1 build and nothing emulates a V2"):
        cb.bench(mlp, "m", target="v2")


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_bn_under_cpython_runs_the_app_as_flashed(kind, mlp, cnn, tmp_path, monkeypatch, capsys):
    """bn.run() on the flashed files, under CPython with the fake microbit module:
    the logits it prints for each window are the numpy reference's."""
    from microbit_nn.host.sim import microbit as mb

    qm = mlp if kind == "mlp" else cnn
    wins = cb.bench_windows(qm.window, 2)
    for name, data in device_files(qm, asm=False).items():  # CPython runs the Python build, not the engine
        (tmp_path / name).write_bytes(data)
    (tmp_path / "bn.py").write_text(cb.minify(cb._read("bn.py")))
    (tmp_path / "bw.bin").write_bytes(wins.astype("<i2").tobytes())
    before = set(sys.modules)
    monkeypatch.setitem(sys.modules, "microbit", mb)
    monkeypatch.setitem(sys.modules, "utime", mb.utime)
    monkeypatch.setattr(gc, "mem_free", lambda: 4321, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    try:
        import app
        import bn

        app.go = 0
        bn.run(app)
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]
    r = cb.parse_bench(capsys.readouterr().out, kernels(qm))
    assert r["logits"] == reference.run(qm, wins).tolist()
    assert r["free_bench"] == 4321
    assert all(s["instr"] > 0 and s["module"] in ("qk", "ft") for s in r["steps"])


@needs_qemu
@pytest.mark.emulator
def test_mbnn_bench_json_on_the_emulator(mlp, tmp_path, capsys):
    mlp.save(tmp_path / "model_int8.json")
    assert main(["bench", str(tmp_path), "--json", "--windows", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert KEYS <= set(r)
    assert r["macs"] == mlp.macs() and r["model"] == str(tmp_path)
    for k in ("instr_per_inference", "instr_features", "instr_per_prediction", "instr_ring", "free_heap"):
        assert r[k] > 0, k
    # the parts add up to the whole classify step; the rest is the print, the
    # display and the call glue (measured ~17,000 instructions)
    parts = r["instr_features"] + r["instr_per_inference"] + r["instr_ring"] + r["instr_output"]
    assert r["instr_other"] == r["instr_per_prediction"] - parts and 0 < r["instr_other"] < 40_000
    assert r["kernels"] == "engine" and all(s["module"] == "engine" for s in r["steps"])
    assert r["instr_per_mac_fast"] <= 6 and r["speedup"] > 50
    assert r["matches_reference"] is True
    # the notes allowed: the all-Python build may not fit beside the bench's code; the V2's
    # files are these without f.bin
    assert all(n.startswith(("with the qk kernels", "the V2 gets these files")) for n in r["notes"]), r["notes"]
    assert r["latency_ms_v1"] == pytest.approx(r["instr_per_prediction"] / 16e3, abs=0.01)
    assert r["same_files_v1_v2"] is False and r["instr_per_prediction_v2"] is None  # f.bin: V1 only
    # --target v2 runs the V2's very files on the emulated V1: its count, its latency estimated from it
    assert main(["bench", str(tmp_path), "--json", "--windows", "2", "--target", "v2"]) == 0
    v2 = json.loads(capsys.readouterr().out)
    assert v2["same_files_v1_v2"] is True and v2["instr_per_prediction_v2"] == v2["instr_per_prediction"]
    assert v2["latency_ms_v2_estimate"] == pytest.approx(v2["instr_per_prediction"] / 64e3, abs=0.01)
    assert v2["matches_reference"] is True
    # the same machine code, in RAM rather than in flash: the same instructions (timer resolution aside)
    assert abs(v2["instr_per_prediction"] - r["instr_per_prediction"]) <= 0.01 * r["instr_per_prediction"]


@needs_qemu
@pytest.mark.emulator
def test_step_counts_repeat_and_match_the_reference():
    cnn = make_qmodel("cnn", np.random.default_rng(0))
    wins = cb.bench_windows(cnn.window, 2)
    files = cb.variant_files(cnn, "engine")
    a, b = cb.time_steps(files, cnn, wins), cb.time_steps(files, cnn, wins)
    ref = reference.run(cnn, wins).tolist()
    assert a["logits"] == b["logits"] == ref
    for x, y in zip(a["steps"] + [a], b["steps"] + [b]):
        key = "instr" if "instr" in x else "instr_per_prediction"
        # a step is timed over at most 50 calls with 1 us (1,000 instructions) ticks: 20 is
        # the resolution of a cheap step's figure
        assert x[key] > 0 and abs(x[key] - y[key]) <= max(0.01 * x[key], 1000 / 50), (x, y)

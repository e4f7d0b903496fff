"""export/writer.py: the files the device gets, run under CPython against the numpy reference.

The device files (app.py, lo.py, qk.py, ft.py, model.py, model.bin ...) are
written to a temp folder and imported from there by bare name, with a fake
`microbit` module: app.li() and app.ld() build the model exactly as on the
micro:bit, then the bound kernel calls (app.Z) run on windows written into
the ring (app.R) and the logits (app.y) must equal reference.run's.
"""

from __future__ import annotations

import ast
import sys
import types

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.export import reference
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.hexbuild import build_hex, hex_files, hex_info
from microbit_nn.export.qmodel import (AvgPool1d, Conv1d, Dense, GlobalAvgPool, MaxPool1d, QModel,
                                       RawInput)
from microbit_nn.export import writer as W
from microbit_nn.firmware import FIRMWARE_DIR

DEVICE_MODULES = ("app", "lo", "model", "qk", "qa", "qf", "ft", "st", "microbit")


def fake_microbit() -> types.ModuleType:
    """What app.py/lo.py touch of `microbit` while loading (Image names only)."""
    mb = types.ModuleType("microbit")
    mb.Image = type("Image", (), {"HAPPY": "Image.HAPPY", "CHESSBOARD": "Image.CHESSBOARD"})
    return mb


@pytest.fixture
def device(tmp_path, monkeypatch):
    """load(files) -> the app module, loaded from a folder holding only `files` (as the device)."""
    def load(files):
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        for m in DEVICE_MODULES:
            monkeypatch.delitem(sys.modules, m, raising=False)
        monkeypatch.setitem(sys.modules, "microbit", fake_microbit())
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "path", [str(tmp_path)] + [p for p in sys.path if p != FIRMWARE_DIR])
        import app
        app.li()
        app.ld()
        return app
    yield load
    for m in DEVICE_MODULES:
        sys.modules.pop(m, None)


def run_on(app, windows) -> np.ndarray:
    """The logits the loaded app computes for each window [L, 3] (its classify step)."""
    out = []
    for w in np.asarray(windows):
        flat = w.reshape(-1)
        for i, v in enumerate(flat):
            app.R[i] = int(v)
        for f, a in app.Z:
            f(*a)
        out.append(list(app.y))
    return np.array(out)


def pool_model(rng) -> QModel:
    """A cnn with every pooling op (max, avg, global avg) and a padded, strided conv."""
    from microbit_nn.export import quant

    def affine(shape, ratio):
        w, sw = quant.quantize_weights(rng.normal(0, 0.3, shape))
        b = quant.quantize_bias(rng.normal(0, 0.1, shape[0]), 0.05, sw)
        m, s = quant.requant_affine(w, b, 0.05, sw, 0.05 * ratio)
        return dict(w=w, b=b, mult=m, shift=s)

    am, ash = quant.choose_requant(0.5, 256)
    layers = [Conv1d(stride=2, pad=1, relu=True, **affine((6, 3, 3), 2.0)), MaxPool1d(k=3, stride=2),
              Conv1d(stride=1, pad=0, relu=False, **affine((5, 2, 6), 1.0)), AvgPool1d(k=2, stride=1, mult=am, shift=ash)]
    L = ((40 + 2 - 3) // 2 + 1 - 3) // 2 + 1 - 2 + 1 - 2 + 1
    gm, gs = quant.choose_requant(1.0 / L, 128 * L)
    layers += [GlobalAvgPool(mult=gm, shift=gs), Dense(relu=False, **affine((3, 5), 0.3))]
    return QModel(kind="cnn", classes=["a", "b", "c"], window=40, period_ms=20, input=RawInput(shift=5), layers=layers,
                  out_scale=0.1, exp_table=quant.make_exp_table(0.1), threshold=40, icons=["HAPPY"] * 3)


def models():
    rng = np.random.default_rng(7)
    yield "mlp16", random_qmodel("mlp", seed=1, hidden=16)
    yield "mlp40", random_qmodel("mlp", seed=2, hidden=40, n_classes=6)
    yield "cnn16", random_qmodel("cnn", seed=3, hidden=16)
    yield "cnn8", random_qmodel("cnn", seed=4, hidden=8, window=30)
    yield "pools", pool_model(rng)


MODELS = dict(models())


@pytest.mark.parametrize("target", ["v1", "v2"])
@pytest.mark.parametrize("name", list(MODELS))
def test_device_files_compute_the_reference(device, name, target, bitexact):
    """Under CPython: the all-Python build (asm=False) of both boards; the engine build
    is machine code and runs on the emulator (test_export_engine.py)."""
    qm = MODELS[name]
    app = device(W.device_files(qm, target, asm=False))
    rng = np.random.default_rng(hash(name) % 1000)
    windows = np.concatenate([rng.integers(-2500, 2500, (6, qm.window, 3)),
                              rng.integers(-32768, 32768, (2, qm.window, 3))])
    got = run_on(app, windows)
    want = reference.run(qm, windows)
    assert got.tolist() == want.tolist()
    bitexact.add(len(windows))


def test_model_py_literals_under_cpython(tmp_path):
    """The default (bytes literal) model.py: every literal at most CHUNK bytes, and its
    tables equal the model's, for a table bigger than CHUNK."""
    qm = random_qmodel("mlp", hidden=64)  # a 64 x 24 = 1536-byte weight table
    src = W.model_source(qm)
    lits = [n.value for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Constant) and isinstance(n.value, bytes)]
    assert max(len(b) for b in lits) <= W.CHUNK and len(lits) > len(qm.layers) * 4
    ns: dict = {}
    exec(compile(src, "model.py", "exec"), ns)
    q = ns["Q"]
    tables = [np.frombuffer(q[i + 1], {"b": "<i1", "h": "<i2", "i": "<i4"}[q[i]]) for i in range(0, len(q), 2)]
    w1 = qm.layers[0].w.reshape(-1)
    assert any(len(t) == len(w1) and (t == w1).all() for t in tables)
    assert ns["K"] == "mlp" and ns["W"] == qm.window and ns["C"].split(",") == qm.classes


def test_binary_tables_match_model_bin():
    qm = random_qmodel("cnn", hidden=12)
    tbl = W.Tables(binary=True)
    src = W.model_source(qm, tables=tbl)
    q = ast.literal_eval(src[src.index("Q=(") + 2:].strip())
    sizes = [q[i + 1] * {"b": 1, "h": 2, "i": 4}[q[i]] for i in range(0, len(q), 2)]
    assert sum(sizes) == len(tbl.data) and sizes == sorted(sizes, reverse=True)


def test_plans_per_target():
    mlp, cnn = random_qmodel("mlp"), random_qmodel("cnn")
    v1 = W.device_files(cnn, "v1")  # the engine: machine code, no Python kernels at all
    assert "p.bin" in v1 and not {"model.bin", "qa.py", "qk.py", "ft.py", "qf.py"} & set(v1)
    assert W.kernel_plan(cnn, "v1") == {"engine": ["rawq", "conv", "conv", "gmp", "dense", "amax", "conf"], "qk": []}
    assert W.kernels_name(v1) == "engine" and b"def ex(" in v1["lo.py"]  # le.py, whole, as lo.py
    py = W.device_files(cnn, "v1", asm=False)
    assert "model.bin" in py and "qa.py" not in py and "p.bin" not in py and W.kernels_name(py) == "python"
    assert {d.name for d in ast.parse(py["qk.py"].decode()).body if isinstance(d, ast.FunctionDef)} == \
        set(W.kernel_plan(cnn, "v1", asm=False)["qk"]) >= {"conv", "dense", "gmp", "rawq", "amax", "conf"}
    assert W.kernel_plan(mlp, "v1", asm=False)["qk"] == ["rq", "dense", "amax", "featq", "conf"]
    with pytest.raises(MbnnError, match="v1 or v2"):
        W.device_files(mlp, "v3")
    pools = MODELS["pools"]  # max and average pooling: the engine has them too
    assert {"mpool", "apool"} <= set(W.kernel_plan(pools, "v1")["engine"])


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("asm", [None, False])
def test_v1_and_v2_get_the_same_files(kind, asm):
    """One engine (and one Python build) on both boards: the V2 runs what the emulated
    V1 proves. The one difference: the V1's engine build keeps its small read-only items
    in f.bin (flash, export/flashplace.py), for heap the V2 (~64 KB) does not need, and
    whose chunk addresses are the V1 file system's. The V1 built without f.bin is the
    V2's build byte for byte."""
    qm = random_qmodel(kind)
    v1, v2 = W.device_files(qm, "v1", asm=asm), W.device_files(qm, "v2", asm=asm)
    assert W.device_files(qm, "v1", asm=asm, flash=False) == v2
    if asm is False:
        assert v1 == v2
    else:
        assert "f.bin" in v1 and "f.bin" not in v2
        assert sorted(n for n in v1 if v1[n] != v2.get(n)) == ["f.bin", "lo.py", "model.py", "p.bin"]
        assert len(v1["p.bin"]) < len(v2["p.bin"])


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_the_two_hexes_hold_the_same_engine(kind):
    """Read back from the .hex files `mbnn build` makes for each board: the same app and
    the same machine code (p.bin), under two different MicroPython firmwares (the V1's
    build without f.bin: see test_v1_and_v2_get_the_same_files)."""
    qm = random_qmodel(kind)
    v1, v2 = (build_hex(W.device_files(qm, t, flash=False), t) for t in ("v1", "v2"))
    assert hex_info(v1).target == "v1" and hex_info(v2).target == "v2" and v1 != v2
    f1, f2 = hex_files(v1), hex_files(v2)
    assert f1 == f2 and "p.bin" in f1 and b"def ex(" in f1["lo.py"]


def test_free_form_names_go_on_the_device_in_ascii_form():
    qm = random_qmodel("mlp", n_classes=3)
    qm.classes = ["Not a spell", "Jumping up&down", "café"]
    ns: dict = {}
    exec(compile(W.model_source(qm), "model.py", "exec"), ns)
    assert ns["C"] == "Not_a_spell,Jumping_up%26down,caf%C3%A9" and ns["C"].isascii()
    qm.icons[0] = "two words"
    with pytest.raises(MbnnError, match="icon 'two words' cannot go"):
        W.model_source(qm)


@pytest.mark.parametrize("target", ["v1", "v2"])
def test_hex_holds_the_files(target):
    files = W.device_files(random_qmodel("cnn"), target)
    text = build_hex(files, target)
    assert hex_files(text) == files
    assert hex_info(text).target == target


def test_write_export(tmp_path):
    qm = random_qmodel("mlp")
    paths = W.write_export(qm, tmp_path / "out", "v1")
    assert {p.name for p in (tmp_path / "out").iterdir()} == set(paths) >= {"main.py", "app.py", "model.py", "st.bin"}
    assert paths["model.py"].read_bytes() == W.device_files(qm, "v1")["model.py"]

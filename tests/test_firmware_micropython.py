"""The firmware on a real recent MicroPython (1.27, the WebAssembly port under
node; tests/mp/board.py), where no test ran it before: the app of an
all-Python build (`asm=False`) of the V1 and of the V2, and the kernels.

- The app boots from main.py with the fake `microbit` of tests/mp/microbit.py;
  host/device.py's Device replays windows over its serial line as it does to
  a board, and the logits must equal export/reference.py's. The selftest
  (`!t`: a reset, the golden vectors of st.bin, a reset) must pass.
- The same script (tests/mp/kernels.py) runs qk.py and ft.py on thousands of
  random cases under CPython and under MicroPython: both outputs must equal
  the reference's, line for line.

docs/v2.md says what this stands in for on the V2 and what it cannot show.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from microbit_nn.export import features, goldens, quant
from microbit_nn.export import reference as R
from microbit_nn.export.qmodel import FeatureInput
from microbit_nn.export.writer import TARGETS, device_files
from microbit_nn.firmware import FIRMWARE_DIR
from microbit_nn.host.device import Device, parse_line

from mp.board import MICROPYTHON_VERSION, MicroPythonBoard, asm_free, run_script
from mp.models import default_qmodel

HERE = Path(__file__).resolve().parent


# ---- the port itself ---------------------------------------------------------------------------

def test_port_is_micropython_and_lacks_the_assembler():
    """What asm_free relies on: the port is MicroPython 1.27, `micropython` imports but has
    no asm_thumb, and a file with @micropython.asm_thumb does not even compile there."""
    out = run_script(
        "import sys, micropython\n"
        "print(sys.implementation.name, tuple(sys.implementation.version[:3]))\n"
        "try:\n    micropython.asm_thumb\nexcept AttributeError:\n    print('no asm_thumb')\n"
        "try:\n    exec('import micropython\\n@micropython.asm_thumb\\ndef f(r0):\\n    pass\\n')\n"
        "except SyntaxError as e:\n    print('SyntaxError', e)\n")
    assert out.split("\n")[:3] == ["micropython %r" % (MICROPYTHON_VERSION,), "no asm_thumb",
                                   "SyntaxError invalid micropython decorator"]


def test_asm_free_leaves_the_fallback():
    src = (Path(FIRMWARE_DIR) / "lo.py").read_text()
    out = asm_free(src)
    assert "@micropython.asm_" in src and "@micropython.asm_" not in out
    assert "\n    micropython.asm_thumb\n" in out  # the decorator, evaluated where rv was defined
    assert "def rv(R, i, j):" in out  # the Python fallback stays


def test_asm_free_runs_the_fallback_under_micropython():
    src = "try:\n    import micropython\n    @micropython.asm_thumb\n    def f(r0):\n        data(2, 0x4600)\n" \
          "except AttributeError:\n    def f(x):\n        return x + 1\nprint(f(41))\n"
    assert run_script("import m", {"m.py": src}).split() == ["42"]


# ---- the app of an all-Python build, V1 and V2 -----------------------------------------------

@pytest.fixture(scope="module", params=[k + "-" + t for k in ("mlp", "cnn") for t in TARGETS])
def board(request):
    """(qm, Device) on MicroPython 1.27 running the all-Python build of a random
    default-size model for the target."""
    kind, target = request.param.split("-")
    qm = default_qmodel(kind)
    with MicroPythonBoard(device_files(qm, target, asm=False)) as b:
        yield qm, Device(b.port, timeout=30.0)


def windows(rng: np.random.Generator, n: int, L: int) -> np.ndarray:
    """Gesture-like windows (a wobble plus a random walk), random ones, and the int16 extremes."""
    t = np.arange(L)[None, :, None]
    wobble = 1200 * np.sin(t * rng.uniform(0.05, 0.5, (n, 1, 3)) + rng.uniform(0, 6, (n, 1, 3)))
    w = np.rint(wobble + rng.normal(0, 150, (n, L, 3)).cumsum(axis=1)).astype(np.int64)
    w[0] = rng.integers(-2200, 2200, (L, 3))
    w[1] = 32767
    w[2] = -32768
    return np.clip(w, -32768, 32767)


def test_banner(board):
    qm, dev = board
    meta = dev.info()
    assert (meta["kind"], meta["window"], meta["classes"]) == (qm.kind, qm.window, qm.classes)
    assert meta["kernels"] == "python"  # the all-Python build's loaders ran


def test_replay_is_bit_exact(board, bitexact):
    qm, dev = board
    ws = windows(np.random.default_rng(11), 8, qm.window)
    got = [dev.replay_window(w) for w in ws]
    assert [list(p.logits) for p in got] == R.run(qm, ws).tolist()
    labels, conf = R.predict(qm, ws)
    assert [(p.k, p.conf) for p in got] == [(int(k), int(c)) for k, c in zip(labels, conf)]
    bitexact.add(len(ws))


def test_selftest_passes(board):
    _, dev = board
    results = dev.selftest()
    assert len(results) >= 10 and [r for r in results if not r[1]] == []
    assert dev.info()  # back in the app after the selftest's reset


def test_bad_input_gets_an_error_line(board):
    _, dev = board
    dev.replay(True)
    for line, want in (("1 2 x", "bad input"), ("1 2", "bad input"), ("99999 0 0", "bad input"), ("!zz", "unknown"),
                       ("!c", "too few")):
        dev.send(line)
        got = None
        while got is None or got[0] not in "EKP":
            got = dev.poll(10)
        assert got == ("E", want), line
    assert parse_line("I mode 0 0") and dev.info()["kind"] in ("mlp", "cnn")


# ---- the kernels: one script, two interpreters -------------------------------------------------

def _requant(rng, bound):
    return quant.choose_requant_array(10.0 ** rng.uniform(-6, 0, len(bound)), bound)


def random_records(rng: np.random.Generator, n: int) -> list[tuple[bytes, str]]:
    """`n` rounds of random shapes and values for every kernel of qk.py and ft.py: each an
    export/goldens.py record with the reference's output, and the line kernels.py must print."""
    def rec(name, kernel, y_at, args, expected):
        line = " ".join([name] + ["%d" % v for v in np.ravel(expected[1])])
        return goldens.record(name, kernel, y_at, args, expected), line

    out = []
    for i in range(n):
        lo = -128 if i % 2 else 0
        ni, no = (int(v) for v in rng.integers(1, (40, 13)))
        x, w = rng.integers(-128, 128, ni), rng.integers(-127, 128, (no, ni))
        b = rng.integers(-(1 << 20), 1 << 20, no) >> int(rng.integers(0, 20))
        m, s = _requant(rng, quant.acc_bound(w, b))
        out.append(rec("dense%d" % i, "dense", 5, [("b", x), ("b", w), ("i", b), ("i", m), ("i", s), lo],
                       ("b", R.dense(x[None], w, b, m, s, lo == 0)[0])))
        L, ci, co, k, st, pd = (int(v) for v in rng.integers(1, (20, 5, 6, 7, 4, 5)))
        pd -= 1
        if (L + 2 * pd - k) // st + 1 >= 1:
            x, w = rng.integers(-128, 128, (L, ci)), rng.integers(-127, 128, (co, k, ci))
            b = rng.integers(-(1 << 16), 1 << 16, co)
            m, s = _requant(rng, quant.acc_bound(w, b))
            out.append(rec("conv%d" % i, "conv", 10, [("b", x), L, ci, ("b", w), k, st, pd, ("i", b), ("i", m),
                                                      ("i", s), lo], ("b", R.conv1d(x[None], w, b, m, s, st, pd, lo == 0)[0])))
        k = min(k, L)
        x = rng.integers(-128, 128, (L, ci))
        am, ash = quant.choose_requant(1.0 / k, 128 * k)
        gm, gs = quant.choose_requant(1.0 / L, 128 * L)
        out += [rec("mpool%d" % i, "mpool", 5, [("b", x), L, ci, k, st], ("b", R.maxpool1d(x[None], k, st)[0])),
                rec("apool%d" % i, "apool", 7, [("b", x), L, ci, k, st, am, ash],
                    ("b", R.avgpool1d(x[None], k, st, am, ash)[0])),
                rec("gap%d" % i, "gap", 5, [("b", x), L, ci, gm, gs], ("b", R.global_avg_pool(x[None], gm, gs)[0])),
                rec("gmp%d" % i, "gmp", 3, [("b", x), L, ci], ("b", R.global_max_pool(x[None])[0]))]
        y = rng.integers(-128, 128, int(rng.integers(1, 9)))
        e = quant.make_exp_table(float(rng.uniform(0.02, 0.5)))
        raw = rng.integers(-32768, 32768, int(rng.integers(1, 40)))
        sh = int(rng.integers(1, 9))
        out += [rec("amax%d" % i, "amax", -1, [("b", y)], ("i", [int(R.argmax(y))])),
                rec("conf%d" % i, "conf", -1, [("b", y), ("h", e)], ("i", [int(R.confidence(y, e))])),
                rec("rawq%d" % i, "rawq", 3, [("h", raw), len(raw), sh], ("b", R.raw_input(raw, sh)))]
        n_s = int(rng.integers(1, 80))
        win = rng.integers(-2600, 2600, (n_s, 3)) >> int(rng.integers(0, 6))
        f = features.extract(win)
        fin = FeatureInput(*quant.feature_input_params(rng.integers(-300, 300, 24), float(rng.uniform(0.01, 0.2))))
        out += [rec("feats%d" % i, "feats", 2, [("h", win), n_s], ("i", f)),
                rec("featq%d" % i, "featq", 4, [("i", f), ("i", fin.offset), ("i", fin.mult), ("i", fin.shift)],
                    ("b", R.feature_input(f[None], fin)[0]))]
    return out


def test_kernels_agree_on_cpython_and_micropython(tmp_path, bitexact):
    records, want = zip(*random_records(np.random.default_rng(2024), 400))
    files = {"qk.py": (Path(FIRMWARE_DIR) / "qk.py").read_bytes(), "ft.py": (Path(FIRMWARE_DIR) / "ft.py").read_bytes(),
             "cases.bin": b"".join(records) + b"\x00"}
    script = (HERE / "mp" / "kernels.py").read_text()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "kernels.py").write_text(script)  # run beside qk.py and ft.py, as on the device
    cpy = subprocess.run([sys.executable, "kernels.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert cpy.returncode == 0, cpy.stderr
    mpy = run_script(script, files)
    assert cpy.stdout.splitlines() == list(want)
    assert mpy.splitlines() == list(want)
    bitexact.add(2 * len(records))

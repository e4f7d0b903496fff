"""export/engine.py (the engine of both boards) and its machine code.

On the host: every routine assembles from export/asm/*.s (also checked with
LLVM), its parameter words are filled by name, and the blob's relocations
point inside their pieces. On the emulated V1: models using every routine
(feats, featq, rawq, conv, dense, gmp, gap, mpool, apool, amax, conf) give
the reference's logits, class and confidence, through the app as built.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from test_export_thumb import llvm_bytes, needs_llvm
from test_firmware_qa import needs_qemu

from microbit_nn.errors import MbnnError
from microbit_nn.export import engine, reference, thumb
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.qmodel import GlobalAvgPool
from microbit_nn.export.writer import device_files
from microbit_nn.firmware import FIRMWARE_DIR

SOURCES = sorted(engine.ASM_DIR.glob("*.s"))


def gap_model():
    """The random cnn with global average pooling (the engine's gap routine)."""
    qm = random_qmodel("cnn", seed=21, hidden=12)
    qm.layers[2] = GlobalAvgPool(mult=1 << 10, shift=14)  # about a mean over 13 steps
    return qm


def test_every_kernel_has_a_complete_routine():
    code = engine.code()
    assert set(code) == {name for _, name, _ in engine.ROUTINE.values()}
    for kernel, (path, name, _) in engine.ROUTINE.items():
        src = thumb.read(engine.ASM_DIR / path)
        assert src.entries[name].kind == "routine", kernel
        body = np.frombuffer(code[name], "<u2")
        assert len(code[name]) % 4 == 0 and any(w in (0x4770, 0xBD00) for w in body), kernel  # bx lr / pop {pc}
    # features uses lr as a register: it saves it first and returns through pc
    f = np.frombuffer(code["features"], "<u2")
    assert f[0] == 0xB500 and 0xBD00 in f[-2:]


def test_parameters_are_filled_by_name():
    words = engine.params("conv", LENGTH=10, CHANNELS_IN=3, SHIFT=("t", 0))
    src = thumb.read(engine.ASM_DIR / "dense_conv.s")
    assert len(words) == src.symbols["DC_WORDS"] == 27
    assert words[src.symbols["DC_LENGTH"] // 4] == 10 and words[src.symbols["DC_CHANNELS_IN"] // 4] == 3
    assert words[src.symbols["DC_SHIFT"] // 4] == ("t", 0) and words.count(0) == 24
    assert engine.params("amax", N=5) == [5] and engine.params("feats") == []
    with pytest.raises(MbnnError, match="no parameter"):
        engine.params("gmp", WIDTH=3)


@needs_llvm
@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_sources_agree_with_llvm_mc(path, tmp_path):
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith(".body")]
    assert llvm_bytes(lines, tmp_path) == b"".join(w.to_bytes(2, "little") for w in thumb.read(path).words)


@pytest.mark.parametrize("qm", [random_qmodel("mlp"), random_qmodel("cnn"), gap_model()], ids=["mlp", "cnn", "gap"])
def test_relocations_point_inside_their_pieces(qm):
    blob = engine.build(qm)
    assert len(blob.calls) == len(qm.layers) + (2 if qm.kind == "mlp" else 1) and len(blob.outputs) == 2
    assert all(len(p) % 4 == 0 and len(p) <= engine.PIECE_MAX for p in blob.pieces[1:])  # no item is bigger here
    listing = np.frombuffer(blob.pieces[0][:4 + 8 * len(blob.relocs)], "<i4")
    assert listing[0] == len(blob.relocs) and listing[1:].reshape(-1, 2).tolist() == [list(r) for r in blob.relocs]

    def inside(v, size=4):
        piece, off = v >> 16, v & 0xFFFF
        if piece < engine.PIECE_FIRST:
            return off == 0  # the ring and the logits are used from their start
        return off + size <= len(blob.pieces[piece - engine.PIECE_FIRST])

    for where, value in blob.relocs:
        assert where % 4 == 0 and inside(where) and inside(value & ~1, 1)
    assert all(inside(v, 16) for v in blob.calls + blob.outputs)


def test_models_the_engine_cannot_run_fall_back(monkeypatch):
    qm = random_qmodel("mlp")
    monkeypatch.setattr(engine, "SUPPORTED", ("feats", "featq"))  # as if dense had no routine
    assert not engine.supports(qm)
    with pytest.raises(MbnnError, match="without --asm"):
        engine.build(qm)
    files = device_files(qm, "v1")
    assert "p.bin" not in files and "model.bin" in files
    with pytest.raises(MbnnError, match="without --asm"):
        device_files(qm, "v1", asm=True)


def pool_model():
    """conftest's cnn: conv, max pooling, conv, global average pooling, dense."""
    from conftest import make_qmodel

    return make_qmodel("cnn", np.random.default_rng(8))


@needs_qemu
@pytest.mark.parametrize("qm", [random_qmodel("mlp", seed=3, hidden=20), random_qmodel("cnn", seed=4), gap_model(),
                                pool_model()], ids=["mlp", "cnn", "gap", "pools"])
def test_engine_on_the_emulated_v1_is_bit_exact(qm, bitexact):
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    files = device_files(qm, "v1")
    assert "p.bin" in files
    rng = np.random.default_rng(5)
    windows = np.concatenate([rng.integers(-2500, 2500, (4, qm.window, 3)),
                              rng.integers(-32768, 32768, (1, qm.window, 3))])
    with Emulator.from_files(files) as emu:
        dev = Device(emu.serial, timeout=30.0)
        dev.wait_banner()
        got = [dev.replay_window(w.tolist()) for w in windows]
    assert [list(p.logits) for p in got] == reference.run(qm, windows).tolist()
    k, conf = reference.predict(qm, windows)  # amax and conf ran in the engine too
    assert [p.conf for p in got] == conf.tolist()
    assert [p.k for p in got] == [int(a) if c >= qm.threshold else -1 for a, c in zip(k, conf)]
    bitexact.add(len(windows))


# --- each routine alone, through ex, on edge cases (qk is the oracle) ---------

# tc.py: each line of cases.txt is a routine's code, or a call: its code's name,
# x, x's typecode, w (a table or a number), w's typecode, y's size, parameters
ROUTINE_MAIN = """from le import ex, ad
from array import array
import gc
C = {}
def run(n, x, xc, w, wc, ny, P):
    X = array(xc, x)
    W = array(wc, w) if wc else 0
    Y = array('b', [85] * ny)
    R = array('i', [ad(C[n]) + 1, ad(X), ad(W) if wc else w, ad(Y)] + P)
    r = ex(ad(R))
    print('R', r, *Y)
f = open('cases.txt')
while True:
    t = f.readline()
    if not t:
        break
    a = eval(t)
    if len(a) == 2:
        C[a[0]] = bytearray(a[1])
    else:
        run(*a)
    a = 0
    gc.collect()
print('END')
"""


def routine_cases() -> list[dict]:
    """Edge cases per routine: (name, kernel, x, w, y size, parameter fields) with qk's
    answer as (return value or None, y)."""
    from microbit_nn import firmware

    qk = firmware.load("qk")
    from array import array

    rng = np.random.default_rng(11)
    out = []

    def add(kernel, x, xc, w, wc, ny, fields, want_r, want_y):
        out.append(dict(kernel=kernel, x=[int(v) for v in x], xc=xc, w=w if wc is None else [int(v) for v in w],
                        wc=wc, ny=ny, fields=fields, want=(want_r, [int(v) for v in want_y])))

    e = [int(v) for v in np.round(256 * np.exp(-np.arange(12) * 0.5))]  # an exp table of 12 entries
    for y in ([3, 7, 7, 1], [7, 7, 7], [-128, -128], [5], [-3, 10, 10, 10, 2], [0, 127, -128, 127],
              list(rng.integers(-128, 128, 9)), [0, -11, -12, -13], [20, 20 - 11, 20 - 12]):
        a = array("b", y)
        add("amax", y, "b", 0, None, 0, dict(N=len(y)), qk.amax(a), [])
        add("conf", y, "b", e, "h", 0, dict(N=len(y), TABLE_SIZE=len(e)), qk.conf(a, array("h", e)), [])
    for L, c, k, st in ((6, 2, 2, 2), (7, 3, 3, 2), (5, 1, 5, 1), (4, 2, 1, 3), (3, 2, 4, 1)):
        x = rng.integers(-128, 128, L * c)
        nt = len(range(0, (L - k) // st * st + 1, st)) if L >= k else 0
        span = dict(WINDOWS=nt, CHANNELS=c, SPAN=k * c, STEP=st * c)
        y = array("b", [85] * (nt * c))
        if nt:
            qk.mpool(array("b", x), L, c, k, st, y)
        add("mpool", x, "b", 0, None, max(nt * c, 1), span, None, list(y) or [85])
        m, s = (1 << 14) // k, 14
        y = array("b", [85] * (nt * c))
        if nt:
            qk.apool(array("b", x), L, c, k, st, m, s, y)
        add("apool", x, "b", 0, None, max(nt * c, 1), dict(span, MULT=m, SHIFT=s), None, list(y) or [85])
    for L, c in ((1, 3), (5, 2), (0, 2), (4, 0)):
        x = rng.integers(-128, 128, max(L * c, 1))
        y = array("b", [85] * max(c, 1))
        if c:
            qk.gmp(array("b", x), L, c, y)
        add("gmp", x, "b", 0, None, max(c, 1), dict(LENGTH=L, CHANNELS=c), None, list(y))
        y2 = array("b", [85] * max(c, 1))
        if c:
            qk.gap(array("b", x), L, c, 3000, 14, y2)
        add("gap", x, "b", 0, None, max(c, 1), dict(LENGTH=L, CHANNELS=c, MULT=3000, SHIFT=14), None, list(y2))
    for n in (0, 1, 7):
        x = list(rng.integers(-32768, 32768, max(n, 1)))
        y = array("b", [85] * max(n, 1))
        qk.rawq(array("h", x), n, 4, y)
        add("rawq", x, "h", 0, None, max(n, 1), dict(N=n, SHIFT=4), None, list(y))
    return out


@needs_qemu
def test_each_routine_matches_qk_on_edge_cases(bitexact):
    """argmax ties (the first largest wins), confidence at and past the exp table's end,
    zero lengths (nothing written), pooling windows that overlap, skip or do not fit."""
    from microbit_nn.host.emulator import run_files

    cases = routine_cases()
    code = engine.code([c["kernel"] for c in cases])
    lines = ["(%r, %r)" % (n, b) for n, b in code.items()]
    for c in cases:
        name = engine.ROUTINE[c["kernel"]][1]
        lines.append("(%r, %r, %r, %r, %r, %d, %r)" % (name, c["x"], c["xc"], c["w"], c["wc"] or "", c["ny"],
                                                      engine.params(c["kernel"], **c["fields"])))
    le = (Path(FIRMWARE_DIR) / "le.py").read_bytes()
    files = {"main.py": b"import tc\n", "tc.py": ROUTINE_MAIN.encode(), "le.py": le,
             "cases.txt": "\n".join(lines).encode() + b"\n"}
    text = run_files(files, re.compile(rb"END\r?\n|Error[^\n]*\n"), timeout=120)
    got = [[int(v) for v in ln.split()[1:]] for ln in text.splitlines() if ln.startswith("R ")]
    assert len(got) == len(cases), text[-1500:]
    for c, g in zip(cases, got):
        want_r, want_y = c["want"]
        if want_r is not None:
            assert g[0] == want_r, (c, g)
        else:
            assert g[1:] == want_y, (c, g)
    bitexact.add(len(cases))


@needs_qemu
@pytest.mark.parametrize("damage", ["short", "missing"])
def test_a_damaged_p_bin_is_reported_and_the_board_stays_reachable(damage):
    """The loader checks what it read before any machine code runs: a short p.bin is an
    `E no model` line, a missing one an ENOENT traceback (the host says what to do for
    both); main.py then ends at the REPL, where the next deploy can reach the board."""
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    files = device_files(random_qmodel("mlp"), "v1")
    if damage == "short":
        files["p.bin"] = files["p.bin"][:-100]
    else:
        del files["p.bin"]
    with Emulator.from_files(files) as emu:
        dev = Device(emu.serial, timeout=30.0)
        with pytest.raises(MbnnError, match="did not load .p.bin short.: copy it again with 'mbnn deploy MODEL'"
                           if damage == "short" else "a file of the model is missing: copy it again with 'mbnn deploy"):
            dev.wait_banner()
        assert emu.exec("print(6 * 7)").strip().endswith("42")

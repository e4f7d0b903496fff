"""firmware/qa.py (Thumb-1 int8 kernels) against qk and the numpy reference.

On the emulated micro:bit V1, qa and qk run on the same inputs and the host
compares both outputs with export/reference.py: one boot checks every case
(they travel as one binary file in the device's file system). A second boot
counts instructions (-icount shift=0: 1 us of device time = 1,000
instructions, deterministic, not wall-clock) for qa and qk.

qa's machine code is data() words; each "#:" comment above them is their
assembly source. export/thumb.py (checked against llvm-mc in
test_export_thumb.py) re-assembles the comments and the test checks they give
exactly the words, so the readable listing cannot drift.
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np
import pytest

from microbit_nn.export import reference as ref
from microbit_nn.firmware import FIRMWARE_DIR

from conftest import needs_qemu  # noqa: E402,F401  (device tests; other test modules import it from here)

# Header of one case in c.bin: 12 int16 (kind, L, ci, k, st, pd, co, nx, nw, lo, ny, 0).
HEAD = struct.Struct("<12h")

# main.py imports qa first (its compile needs the largest free block), then qk,
# then the runner module, so main.py's own bytecode stays tiny.
CHECK_MAIN = """\
import gc
gc.collect()
f0 = gc.mem_free()
import qa
gc.collect()
print('M', f0 - gc.mem_free())
import qk
import t
"""

CHECK_RUNNER = """\
import gc
from array import array
import qa
import qk
def rd(f, t, n):
    a = array(t, bytes(n))
    if n:
        f.readinto(a)
    return a
def pr(t, y):
    print(t, end='')
    for v in y:
        print('', v, end='')
    print()
def go():
    f = open('c.bin', 'rb')
    h = array('h', bytes(24))
    while f.readinto(h) == 24:
        c, L, ci, k, st, pd, co, nx, nw, lo, ny = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10]
        x = rd(f, 'b', nx)
        w = rd(f, 'b', nw)
        b = rd(f, 'i', 4 * co)
        m = rd(f, 'i', 4 * co)
        s = rd(f, 'i', 4 * co)
        y = array('b', bytes(ny))
        z = array('b', bytes(ny))
        if c:
            qa.conv(x, L, ci, w, k, st, pd, b, m, s, y, lo)
            qk.conv(x, L, ci, w, k, st, pd, b, m, s, z, lo)
        else:
            qa.dense(x, w, b, m, s, y, lo)
            qk.dense(x, w, b, m, s, z, lo)
        pr('R', y)
        pr('K', z)
        x = w = b = m = s = y = z = None
        gc.collect()
    print('END')
go()
"""


# END, or a finished traceback: stop there, since after one the device
# scrolls the error across its LEDs for tens of seconds.
DONE = re.compile(rb"END\r?\n|Traceback[^\n]*\n(?:  [^\n]*\n)*[^ \r\n][^\n]*\n")


def boot(files: dict[str, bytes], timeout: float = 120.0) -> str:
    """Boot an emulated V1 holding `files` (instructions counted); return its output up to END.

    Fails the test with the output if the device printed a traceback instead.
    """
    from microbit_nn.host.emulator import run_files

    text = run_files(files, DONE, timeout=timeout, icount=True)
    assert "END" in text, f"device did not finish:\n{text[-2000:]}"
    return text


def firmware_file(name: str) -> bytes:
    with open(os.path.join(FIRMWARE_DIR, name), "rb") as fh:
        return fh.read()


def pick_requant(rng: np.random.Generator, w: np.ndarray, b: np.ndarray, acc: np.ndarray,
                 s: int | None = None, m: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (m, s) obeying the small-int rule.

    Unless given, m maps the case's own largest |accumulator| (acc [..., co])
    to about 60..200, so outputs spread over the int8 range with some clamped.
    """
    co = w.shape[0]
    bound = np.abs(b) + 128 * np.abs(w.reshape(co, -1)).sum(axis=1)
    peak = np.abs(acc.reshape(-1, co)).max(axis=0) if acc.size else np.ones(co)
    ms, ss = np.zeros(co, np.int64), np.zeros(co, np.int64)
    for o in range(co):
        so = int(s if s is not None else rng.integers(8, 25))
        cap = ((1 << 30) - (1 << (so - 1)) - 1) // max(int(bound[o]), 1)
        mo = m if m is not None else int((1 << so) * rng.uniform(60, 200) / max(int(peak[o]), 1))
        ms[o], ss[o] = min(mo, cap), so
    return ms, ss


def conv_acc(x: np.ndarray, w: np.ndarray, b: np.ndarray, st: int, pd: int) -> np.ndarray:
    """Accumulators b + sum x*w of a conv, x [L, ci], w [co, k, ci] -> [Lo, co]."""
    L, ci = x.shape
    co, k, _ = w.shape
    lo = (L + 2 * pd - k) // st + 1
    xp = np.zeros((L + 2 * pd + k + st, ci), np.int64)
    xp[pd:pd + L] = x
    idx = np.arange(max(lo, 0))[:, None] * st + np.arange(k)[None, :]
    return np.einsum("tkc,okc->to", xp[idx], w) + b


def case(kind: str, x, w, b, m, s, lo: int, L: int = 1, ci: int = 0, k: int = 1,
         st: int = 1, pd: int = 0) -> dict:
    x, w = np.asarray(x, np.int64), np.asarray(w, np.int64)
    b, m, s = (np.asarray(v, np.int64) for v in (b, m, s))
    if kind == "dense":
        want = ref.dense(x[None, :], w, b, m, s, relu=lo == 0)[0]
    else:
        co = b.size
        want = ref.conv1d(x.reshape(1, L, ci), w.reshape(co, k, ci), b, m, s,
                          stride=st, pad=pd, relu=lo == 0)[0].reshape(-1)
    return dict(kind=kind, x=x, w=w, b=b, m=m, s=s, lo=lo, L=L, ci=ci, k=k, st=st, pd=pd,
                want=want.astype(np.int64))


def dense_case(rng, n, co, lo=-128, fill=None, s=None, m=None, bias=3000):
    x = rng.integers(-128, 128, n) if fill is None else np.full(n, fill[0])
    w = rng.integers(-127, 128, (co, n)) if fill is None else np.full((co, n), fill[1])
    b = rng.integers(-bias, bias + 1, co)
    mm, ss = pick_requant(rng, w, b, w @ x + b, s, m)
    return case("dense", x, w, b, mm, ss, lo)


def conv_case(rng, L, ci, co, k, st, pd, lo=-128, s=None, m=None):
    x = rng.integers(-128, 128, L * ci)
    w = rng.integers(-127, 128, (co, k, ci))
    b = rng.integers(-2000, 2001, co)
    mm, ss = pick_requant(rng, w, b, conv_acc(x.reshape(L, ci), w, b, st, pd), s, m)
    return case("conv", x, w.reshape(-1), b, mm, ss, lo, L, ci, k, st, pd)


def all_cases(rng: np.random.Generator) -> list[dict]:
    """Random and extreme dense/conv cases (n % 4 in 0..3, n=1, s=1, s=30, padding, stride)."""
    cs = [dense_case(rng, 96, 8), dense_case(rng, 24, 12, lo=0), dense_case(rng, 12, 4)]
    cs += [dense_case(rng, n, 3, lo=lo) for n in (1, 2, 3, 4, 5, 6, 7, 9) for lo in (-128, 0)]
    cs += [dense_case(rng, 64, 3, fill=(-128, 127), s=30, m=None),   # largest positive sums
           dense_case(rng, 64, 3, fill=(-128, -128), s=30, m=None),  # -128 * -128 products
           dense_case(rng, 64, 3, fill=(127, -127), s=20, m=None),
           dense_case(rng, 7, 5, s=1, m=1, bias=60),                 # s = 1: no shift headroom
           dense_case(rng, 5, 4, s=1, m=0),
           dense_case(rng, 33, 4, s=30, m=3, bias=10**6),            # s = 30, tiny m
           dense_case(rng, 33, 4, lo=0, s=29, m=2, bias=10**6)]
    cs += [conv_case(rng, 50, 3, 6, 5, 2, 2, lo=0),  # the cnn's first layer
           conv_case(rng, 11, 6, 8, 3, 1, 1, lo=0),
           conv_case(rng, 10, 1, 2, 4, 3, 0),
           conv_case(rng, 4, 2, 3, 2, 1, 3),          # steps whose taps are all padding
           conv_case(rng, 2, 3, 2, 5, 1, 2),          # kernel longer than the input
           conv_case(rng, 9, 5, 3, 3, 2, 1, s=1, m=1),
           conv_case(rng, 6, 4, 2, 3, 1, 2, s=30, m=5)]
    for _ in range(25):
        L, k = int(rng.integers(1, 13)), int(rng.integers(1, 6))
        pd = int(rng.integers(0, 3))
        if L + 2 * pd < k:
            pd = k
        cs.append(conv_case(rng, L, int(rng.integers(1, 6)), int(rng.integers(1, 6)), k,
                            int(rng.integers(1, 4)), pd, lo=int(rng.choice([-128, 0]))))
    return cs


def pack(cases: list[dict]) -> bytes:
    """Serialise cases in the device script's format (int8 x/w, int32 b/m/s)."""
    out = bytearray()
    for c in cases:
        co, ny = c["b"].size, c["want"].size
        kind = 0 if c["kind"] == "dense" else 1
        ci = c["ci"] if kind else c["x"].size
        out += HEAD.pack(kind, c["L"], ci, c["k"], c["st"], c["pd"], co, c["x"].size,
                         c["w"].size, c["lo"], ny, 0)
        out += c["x"].astype("<i1").tobytes() + c["w"].astype("<i1").tobytes()
        for v in (c["b"], c["m"], c["s"]):
            out += v.astype("<i4").tobytes()
    return bytes(out)


def parse_rows(text: str, tag: str) -> list[list[int]]:
    return [[int(v) for v in ln[2:].split()] for ln in text.splitlines() if ln[:2] == tag + " "
            or ln == tag]


def test_cases_obey_the_small_int_rule():
    """The generated cases are valid inputs: no intermediate reaches 2**30."""
    for c in all_cases(np.random.default_rng(7)):
        co = c["b"].size
        w = c["w"].reshape(co, -1)
        peak = (np.abs(c["b"]) + 128 * np.abs(w).sum(axis=1)) * c["m"] + (1 << (c["s"] - 1))
        assert peak.max() < 2 ** 30


@needs_qemu
def test_qa_matches_qk_and_reference_on_device(bitexact):
    cases = all_cases(np.random.default_rng(7))
    text = boot({"main.py": CHECK_MAIN.encode(), "qa.py": firmware_file("qa.py"),
                 "qk.py": firmware_file("qk.py"), "t.py": CHECK_RUNNER.encode(),
                 "c.bin": pack(cases)})
    got, kq = parse_rows(text, "R"), parse_rows(text, "K")
    assert len(got) == len(kq) == len(cases), text[-2000:]
    for i, c in enumerate(cases):
        want = c["want"].tolist()
        assert kq[i] == want, f"qk case {i} ({c['kind']})"
        assert got[i] == want, f"qa case {i} ({c['kind']} L={c['L']} ci={c['ci']} k={c['k']})"
        bitexact.add(len(want))
    # the cases are not trivially saturated
    flat = np.concatenate([c["want"] for c in cases])
    assert ((flat > -128) & (flat < 127) & (flat != 0)).mean() > 0.5


def test_import_qa_raises_importerror_under_cpython():
    from microbit_nn import firmware

    with pytest.raises(ImportError):
        firmware.load("qa")


# --- instruction counts on the emulated V1 ------------------------------------

def heap_bench_main(first: str, second: str) -> str:
    """The start of a bench main.py: prints 'M' and the heap the imports of two
    modules take (the fast one first: its compile needs the largest block), then
    imports the runner tb."""
    return ("import gc\ngc.collect()\nf0 = gc.mem_free()\nimport %s\ngc.collect()\nf1 = gc.mem_free()\n"
            "import %s\ngc.collect()\nprint('M', f0 - f1, f1 - gc.mem_free())\nimport tb\n" % (first, second))


BENCH_MAIN = heap_bench_main("qa", "qk") + """\
from array import array
gc.collect()
W = array('b', range(1024))  # no temporary copy, unlike bytes(1024)
for i in range(1024):
    W[i] = (i * 37) % 255 - 127
tb.go(W)
"""

# T lines: kernel, L (0 = dense), ci (dense: n), co, k, st, pd, calls, microseconds.
BENCH_RUNNER = """\
import gc
import utime
import micropython
from array import array
import qa
import qk
@micropython.asm_thumb
def sp(r0):
    label(L)
    sub(r0, r0, 1)
    bne(L)
def A(t, n, v):
    a = array(t, bytes(n * (4 if t == 'i' else 1)))
    for i in range(n):
        a[i] = v
    return a
def tm(K, W, L, ci, co, k, st, pd, r):
    x = A('b', L * ci if L else ci, -77)
    y = A('b', ((L + 2 * pd - k) // st + 1) * co if L else co, 0)
    b = A('i', co, 5)
    m = A('i', co, 3)
    s = A('i', co, 16)
    n = 1  # one call first: the first call of a layout allocates a little
    for _ in range(2):
        gc.collect()
        t = utime.ticks_us()
        if L:
            for _ in range(n):
                K.conv(x, L, ci, W, k, st, pd, b, m, s, y, 0)
        else:
            for _ in range(n):
                K.dense(x, W, b, m, s, y, -128)
        t = utime.ticks_diff(utime.ticks_us(), t)
        n = r
    print('T', K.__name__, L, ci, co, k, st, pd, r, t)
def go(W):
    t = utime.ticks_us()
    sp(10000000)
    print('S', 20000000, utime.ticks_diff(utime.ticks_us(), t))
    for n in (128, 256):
        tm(qa, W, 0, n, 4, 1, 1, 0, 1000)
        tm(qk, W, 0, n, 4, 1, 1, 0, 2)
    for co in (1, 8):
        tm(qa, W, 0, 4, co, 1, 1, 0, 1000)
        tm(qk, W, 0, 4, co, 1, 1, 0, 20)
    for K, r in ((qa, 500), (qk, 2)):
        tm(K, W, 50, 3, 6, 5, 2, 2, r)
        tm(K, W, 23, 6, 8, 3, 1, 1, r)
    print('END')
"""


def bench_numbers(text: str) -> dict[str, float]:
    """Instruction counts (1 us = 1,000 instructions) from the bench output."""
    us = {}
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["T"]:
            us[(f[1],) + tuple(int(v) for v in f[2:8])] = int(f[9]) * 1000 / int(f[8])
        elif f[:1] == ["S"]:
            spin = int(f[2]) * 1000 / int(f[1])
        elif f[:1] == ["M"]:
            mem = [int(v) for v in f[1:3]]
    out = {"irq_factor": spin, "qa_import_bytes": mem[0], "qk_import_bytes": mem[1]}
    for K in ("qa", "qk"):
        def d(n, co):
            return us[(K, 0, n, co, 1, 1, 0)]
        out[K + "_per_mac"] = (d(256, 4) - d(128, 4)) / (128 * 4)
        out[K + "_per_output_n4"] = (d(4, 8) - d(4, 1)) / 7
        out[K + "_dense_call_n4_co1"] = d(4, 1)
        out[K + "_conv_50x3_k5s2p2_co6"] = us[(K, 50, 3, 6, 5, 2, 2)]
        out[K + "_conv_23x6_k3s1p1_co8"] = us[(K, 23, 6, 8, 3, 1, 1)]
    out["mac_ratio"] = out["qk_per_mac"] / out["qa_per_mac"]
    return out


@needs_qemu
def test_qa_instruction_counts_on_device():
    """qa: at most 6 instructions a MAC and >= 100x fewer than qk (counts, not time)."""
    text = boot({"main.py": BENCH_MAIN.encode(), "tb.py": BENCH_RUNNER.encode(),
                 "qa.py": firmware_file("qa.py"), "qk.py": firmware_file("qk.py")}, timeout=300)
    got = bench_numbers(text)
    print("\n".join(f"{k}: {v:.4g}" for k, v in got.items()))
    assert got["qa_per_mac"] <= 6.0
    assert got["mac_ratio"] >= 100
    assert got["qa_conv_50x3_k5s2p2_co6"] * 10 < got["qk_conv_50x3_k5s2p2_co6"]

"""firmware/qa.py (asm_thumb kernels) on the emulated micro:bit V1.

qa and qk both run on the device on the same inputs; the host compares both
outputs with the numpy reference (export/reference.py). Cases travel in one
binary file in the device's filesystem, so one QEMU boot checks them all.
A second boot counts instructions (-icount shift=0: 1 us = 1,000
instructions) for qa and qk; those counts are deterministic, not wall-clock.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import struct
import subprocess
import tempfile
import time

import numpy as np
import pytest

from microbit_nn.export import reference as ref
from microbit_nn.firmware import FIRMWARE_DIR

pytestmark = pytest.mark.emulator

QEMU = shutil.which("qemu-system-arm")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-arm is not installed")

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


# A finished traceback: stop reading there, since the device then scrolls the
# error across its LEDs for tens of seconds before it shows the REPL.
TRACEBACK = re.compile(rb"Traceback[^\n]*\n(?:  [^\n]*\n)*[^ \n][^\n]*\n")


def boot(files: dict[str, bytes], timeout: float = 120.0) -> str:
    """Build a V1 hex holding `files`, boot it in QEMU, return serial output up to END.

    Raises AssertionError with the output if the device printed a traceback.
    """
    import micropython_microbit_fs as mfs

    hexdata = mfs.add_files(mfs.get_bundled_hex(1).content,
                            [mfs.File(n, d) for n, d in files.items()])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.hex")
        with open(path, "w") as fh:
            fh.write(hexdata)
        proc = subprocess.Popen(
            [QEMU, "-M", "microbit", "-display", "none", "-device", f"loader,file={path}",
             "-serial", "stdio", "-monitor", "none", "-icount", "shift=0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = b""
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end and b"END" not in out and not TRACEBACK.search(out):
                ready, _, _ = select.select([proc.stdout], [], [], 0.5)
                if ready:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
        finally:
            proc.kill()
            proc.wait()
    text = out.decode("latin-1").replace("\r", "")
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

"""firmware/qf.py (features in Thumb-1 machine code) against ft and export/features.

On the emulated micro:bit V1, qf.feats and ft.feats run on the same windows
(two boots, the windows travel as a binary file) and the host compares both
with export/features.extract, feature by feature, and checks that both clip
the buffer in place alike. A second boot counts instructions (-icount
shift=0: 1 us of device time = 1,000 instructions, not wall-clock) for ft and
qf at n = 50 and measures qf's import cost on the heap.

qf's machine code is a few data() calls whose words sit under "#:" assembly
comments, one comment per row of words (qa has one data() call per row).
The listing is re-assembled here with test_firmware_qa's assembler, extended
with the forms qf uses and qa does not (bl, bx, sp-relative stores and
adjustments, halfword loads/stores); if llvm-mc is installed the whole listing
is also checked against it.
"""

from __future__ import annotations

import ast
import os
import re
import struct

import numpy as np
import pytest

from microbit_nn.export import features as F
from microbit_nn.firmware import FIRMWARE_DIR

# tests/ is on sys.path under pytest (no __init__.py): reuse qa's test helpers.
from test_export_thumb import llvm_bytes, needs_llvm
from test_firmware_qa import boot, firmware_file, heap_bench_main, needs_qemu

from microbit_nn.export.thumb import assemble

# A data() call of 183 words corrupted the V1's heap after import (hangs in
# 10 of 20 heap layouts); calls of up to 128 words ran in all 20. qf keeps
# each call well below that.
MAX_WORDS_PER_CALL = 64


def test_import_qf_raises_importerror_under_cpython():
    from microbit_nn import firmware

    with pytest.raises(ImportError):
        firmware.load("qf")


# --- qf == ft == export/features on the emulated V1 ---------------------------

SENTINEL = 12345  # in the buffer just after the window, and as out[24]: must survive

# The two 1.5 KB buffers are made before the runner compiles, while the heap
# is still in one piece.
CHECK_MAIN = """\
import gc
import qf
import ft
from array import array
gc.collect()
A = array('h', range(765))
B = array('h', range(765))
import t
t.go(A, B)
"""

# Per case: F ft's 24 features, Q qf's 24 plus out[24], B a checksum of qf's
# clipped buffer, how many values differ from ft's, and the word after it.
CHECK_RUNNER = """\
from array import array
import ft
import qf
def pr(t, y):
    print(t, end='')
    for v in y:
        print('', v, end='')
    print()
def go(A, B):
    f = open('c.bin', 'rb')
    h = array('h', [0])
    o = array('i', range(25))
    p = array('i', range(25))
    while f.readinto(h) == 2:
        n = h[0]
        e = 3 * n
        f.readinto(A, 2 * e)
        for i in range(e):
            B[i] = A[i]
        if e < 765:
            B[e] = 12345
        p[24] = 12345
        ft.feats(A, n, o)
        qf.feats(B, n, p)
        s = 0
        d = 0
        for i in range(e):
            s += (i % 13 + 1) * B[i]
            if A[i] != B[i]:
                d += 1
        pr('F', o[:24])
        pr('Q', p)
        print('B', s, d, B[e] if e < 765 else 12345)
    k = 0
    for n, b, q in ((0, B, p), (256, B, p), (5, array('h', [0] * 14), p), (5, B, array('i', [0] * 23))):
        try:
            qf.feats(b, n, q)
        except ValueError:
            k += 1
    print('V', k)
    print('END')
"""


def shaped(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """One int16 window [n, 3] of the given character."""
    if kind == "gesture":
        t = np.arange(n)[:, None]
        w = (rng.normal(0, 900, (1, 3)) * np.sin(t * rng.uniform(0.05, 0.9, (1, 3)))
             + rng.normal(0, 80, (n, 3)) + rng.normal(0, 500, (1, 3)))
        return np.rint(w).clip(-32768, 32767).astype(np.int64)
    if kind == "full16":
        return rng.integers(-32768, 32768, (n, 3))
    if kind == "extreme":  # every value at or beyond the clip
        return rng.choice(np.array([-32768, -2049, -2048, 2048, 2049, 32767]), (n, 3))
    if kind == "edge":
        return rng.choice(np.array([-2049, -2048, -2047, 0, 2047, 2048, 2049]), (n, 3))
    if kind == "constant":
        return np.broadcast_to(rng.choice([0, -1, 1, 2048, -2048, 3000, -32768, 777]), (n, 3)).copy()
    if kind == "alternate":
        a = rng.choice([1, 2048, 5000])
        return np.where(np.arange(n)[:, None] % 2, a, -a) * np.ones((1, 3), np.int64)
    if kind == "tiny":  # ties everywhere: x == mean, x == mean + std, equal neighbours
        return rng.integers(-2, 3, (n, 3)) + rng.choice([0, 0, -1000, 999], (1, 3))
    if kind == "plateau":  # runs of equal values: plateau peaks count once
        runs = [np.repeat(rng.integers(-4, 5, (1, 3)), rng.integers(1, 5), axis=0) for _ in range(n)]
        return np.concatenate(runs)[:n] * rng.choice([1, 300])
    if kind == "ramp":
        return (np.arange(n)[:, None] * rng.integers(-300, 301, (1, 3))
                + rng.integers(-3000, 3000, (1, 3))).clip(-32768, 32767)
    raise ValueError(kind)


KINDS = ("gesture", "full16", "extreme", "edge", "constant", "alternate", "tiny", "plateau", "ramp")


def all_windows(rng: np.random.Generator) -> list[np.ndarray]:
    """Random and extreme windows: every kind at n = 1..5 and 50, small random n, 100, 254, 255."""
    ws = [shaped(rng, n, k) for k in KINDS for n in (1, 2, 3, 4, 5, 50)]
    ws += [shaped(rng, 50, "gesture") for _ in range(10)]
    ws += [shaped(rng, int(rng.integers(2, 30)), k) for k in ("tiny", "plateau", "edge") for _ in range(40)]
    ws += [shaped(rng, 255, k) for k in ("alternate", "extreme", "full16", "gesture")]
    ws += [shaped(rng, 254, "tiny"), shaped(rng, 100, "plateau")]
    ws += [np.full((255, 3), 2048), np.full((255, 3), -32768),            # largest sums of squares
           np.array([[0, 0, 0], [5, 5, -5], [5, 5, -5], [0, 0, 0]]),       # a plateau peak, counted once
           np.array([[0] * 3, [3] * 3, [0] * 3, [0] * 3]),                  # d = 3 > std = 1: a peak
           np.array([[0] * 3, [2] * 3, [0] * 3, [0] * 3, [0] * 3])]         # x - m == std: not a peak
    return ws


def checksum(w: np.ndarray) -> int:
    flat = np.clip(w, -2048, 2048).reshape(-1)
    return int(((np.arange(flat.size) % 13 + 1) * flat).sum())


def pack(windows: list[np.ndarray]) -> bytes:
    return b"".join(struct.pack("<h", len(w)) + w.astype("<i2").tobytes() for w in windows)


def chunks(windows: list[np.ndarray], size: int) -> list[list[np.ndarray]]:
    """Consecutive runs of windows whose packed size stays below `size` bytes."""
    out, cur, used = [], [], 0
    for w in windows:
        b = 2 + 6 * len(w)
        if cur and used + b > size:
            out.append(cur)
            cur, used = [], 0
        cur.append(w)
        used += b
    return out + [cur]


def parse_rows(text: str, tag: str) -> list[list[int]]:
    return [[int(v) for v in ln.split()[1:]] for ln in text.splitlines() if ln.split()[:1] == [tag]]


def test_windows_cover_the_rules():
    """The windows exercise what the tests claim: clipping, ties at the mean and at mean + std, plateaus."""
    ws = all_windows(np.random.default_rng(8))
    assert any((np.abs(w) > 2048).any() for w in ws) and any(len(w) == 255 for w in ws)
    at_mean = at_thr = plateau = 0
    for w in ws:
        x = np.clip(w, -2048, 2048)
        f = F.extract(x).reshape(3, 8)
        for a in range(3):
            m, d = f[a, 2], f[a, 3]
            at_mean += int((x[:, a] == m).any())
            at_thr += int((x[1:-1, a] == m + d).any())
            plateau += int(((x[1:-2, a] == x[2:-1, a]) & (x[1:-2, a] > x[:-3, a])).any())
    assert at_mean > 50 and at_thr > 20 and plateau > 20


@needs_qemu
def test_qf_matches_ft_and_features_on_device(bitexact):
    ws = all_windows(np.random.default_rng(8))
    parts = chunks(ws, 16000)  # c.bin must fit the V1 file system next to the modules
    text = ""
    for part in parts:
        text += boot({"main.py": CHECK_MAIN.encode(), "qf.py": firmware_file("qf.py"),
                      "ft.py": firmware_file("ft.py"), "t.py": CHECK_RUNNER.encode(),
                      "c.bin": pack(part)}, timeout=240)
    fts, qfs, bufs = parse_rows(text, "F"), parse_rows(text, "Q"), parse_rows(text, "B")
    assert len(fts) == len(qfs) == len(bufs) == len(ws), text[-2000:]
    for i, w in enumerate(ws):
        want = F.extract(w).tolist()
        where = f"window {i} (n={len(w)})"
        assert fts[i] == want, f"ft differs from features.extract on {where}"
        bad = [F.FEATURE_NAMES[j] for j in range(24) if qfs[i][j] != want[j]]
        assert not bad, f"qf differs on {where}: {bad}"
        assert qfs[i][24] == SENTINEL, f"qf wrote past out[23] on {where}"
        assert bufs[i] == [checksum(w), 0, SENTINEL], f"qf's clipped buffer is wrong on {where}"
        bitexact.add(24)
    assert parse_rows(text, "V") == [[4]] * len(parts), "qf.feats must refuse n = 0 or 256, a short buf or out"


# Heap layouts (ballast bytes before importing qf, after it) in which the same
# code as one data() call of 183 words hung at the first qf.feats call (the
# scripts below are the ones of that sweep, byte for byte: layouts move with
# any change to them).
LAYOUTS = ((0, 0), (0, 400), (0, 800), (800, 0), (800, 200), (800, 350))

LAYOUT_MAIN = """
import gc
k = bytearray({K})
import qf
import ft
j = bytearray({J})
from array import array
gc.collect()
A = array('h', range(765))
B = array('h', range(765))
import t
t.go(A)
print('END')
"""

LAYOUT_RUNNER = """
from array import array
import qf
def go(A):
    o = array('i', range(24))
    qf.feats(A, 1, o)
    print('ok', o[0])
"""


@needs_qemu
def test_qf_runs_in_heap_layouts_that_broke_one_big_data_call():
    for K, J in LAYOUTS:
        text = boot({"main.py": LAYOUT_MAIN.format(K=K, J=J).encode(), "t.py": LAYOUT_RUNNER.encode(),
                     "qf.py": firmware_file("qf.py"), "ft.py": firmware_file("ft.py")}, timeout=30)
        assert parse_rows(text, "ok") == [[0]], f"layout {K}, {J}"


# --- instruction counts and heap on the emulated V1 ---------------------------

BENCH_MAIN = heap_bench_main("qf", "ft") + "tb.go()\n"

# T lines: what, n, calls, microseconds (= thousands of instructions).
BENCH_RUNNER = """\
import gc
import utime
from array import array
import ft
import qf
def tm(k, f, n, r):
    a = array('h', range(765))
    open('w.bin', 'rb').readinto(a)
    o = array('i', range(24))
    if f:
        f(a, n, o)
    gc.collect()
    t = utime.ticks_us()
    if f:
        for _ in range(r):
            f(a, n, o)
    else:
        for _ in range(r):
            pass
    print('T', k, n, r, utime.ticks_diff(utime.ticks_us(), t))
def go():
    tm('loop', None, 50, 500)
    for n in (1, 50, 255):
        tm('qf', qf.feats, n, 500)
    tm('_f', qf._f, 50, 500)
    tm('ft', ft.feats, 50, 4)
    tm('ft', ft.feats, 255, 2)
    print('END')
"""

# Free heap at which `import X` is tried under a ballast leaving about F bytes.
NEED_MAIN = """\
import gc
gc.collect()
z = bytearray(gc.mem_free() - {F})
gc.collect()
g = gc.mem_free()
try:
    import {mod}
    print('N', 1, g)
except MemoryError:
    print('N', 0, g)
print('END')
"""


def bench_window() -> np.ndarray:
    """A gesture-like window of 255 samples (the first n serve for smaller n)."""
    return np.clip(shaped(np.random.default_rng(3), 255, "gesture"), -2048, 2048)


def import_need(mod: str, lo: int = 1000, hi: int = 8000) -> tuple[int, int]:
    """(largest free heap at which `import mod` failed, smallest at which it worked), by bisection
    over boots: a failed import leaves an empty module behind on the V1, so one try per boot."""
    fail, ok = 0, None
    while hi - lo > 32:
        mid = (lo + hi) // 2
        text = boot({"main.py": NEED_MAIN.format(F=mid, mod=mod).encode(),
                     mod + ".py": firmware_file(mod + ".py")})
        worked, free = parse_rows(text, "N")[0]
        if worked:
            ok, hi = free if ok is None else min(ok, free), mid
        else:
            fail, lo = max(fail, free), mid
    return fail, ok


@needs_qemu
def test_qf_instruction_counts_and_heap_on_device():
    """qf at n = 50: far fewer instructions than ft (counts, not time); what importing it costs."""
    text = boot({"main.py": BENCH_MAIN.encode(), "tb.py": BENCH_RUNNER.encode(),
                 "qf.py": firmware_file("qf.py"), "ft.py": firmware_file("ft.py"),
                 "w.bin": bench_window().astype("<i2").tobytes()}, timeout=300)
    per = {}
    for k, n, r, us in (ln.split()[1:] for ln in text.splitlines() if ln.startswith("T ")):
        per[k, int(n)] = int(us) * 1000 / int(r)
    loop = per.pop(("loop", 50))
    got = {f"{k}_n{n}": v - loop for (k, n), v in per.items()}
    got["qf_per_sample"] = (got["qf_n255"] - got["qf_n1"]) / 254
    got["ft_per_sample"] = (got["ft_n255"] - got["ft_n50"]) / 205
    got["ratio_n50"] = got["ft_n50"] / got["qf_n50"]
    (kept_qf, kept_ft), = parse_rows(text, "M")
    got["qf_import_kept_bytes"], got["ft_import_kept_bytes"] = kept_qf, kept_ft
    for mod in ("qf", "ft"):
        got[mod + "_import_fails_at_free"], got[mod + "_import_works_at_free"] = import_need(mod)
    print("\n".join(f"{k}: {v:,.1f}" for k, v in got.items()))
    assert got["qf_n50"] < 20000
    assert got["ratio_n50"] > 20
    assert got["qf_import_works_at_free"] is not None

"""export/features.py (numpy) and firmware/ft.py (device) against each other bit
for bit, against a plain-Python reading of the definitions, and against floats."""

import math
from array import array

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.export import features as F

LIMIT = 1 << 30
KINDS = ("gesture", "full16", "constant", "alternate", "clipped", "quiet", "ramp")


def window(rng, L, kind):
    """One int16 window [L, 3] of the given character."""
    if kind == "full16":
        return rng.integers(-32768, 32768, (L, 3))
    if kind == "constant":
        return np.broadcast_to(rng.integers(-3000, 3000, (1, 3)), (L, 3)).copy()
    if kind == "alternate":
        return np.where(np.arange(L)[:, None] % 2, 2048, -2048) * np.ones((1, 3), np.int64)
    if kind == "clipped":
        return rng.choice(np.array([-2049, -2048, 2048, 2049, 0]), (L, 3))
    if kind == "quiet":
        return rng.integers(-3, 4, (L, 3)) + rng.integers(-1000, 1000, (1, 3))
    if kind == "ramp":
        return (np.arange(L)[:, None] * rng.integers(-40, 41, (1, 3))).clip(-32768, 32767)
    t = np.arange(L)[:, None]
    w = rng.normal(0, 700, (1, 3)) * np.sin(t * rng.uniform(0.05, 0.8, (1, 3))) + rng.normal(0, 60, (L, 3))
    return np.rint(w + rng.normal(0, 400, (1, 3))).astype(np.int64)


def fw_feats(ft, w) -> list[int]:
    out = array("i", [0] * 24)
    ft.feats(array("h", np.asarray(w).ravel().tolist()), len(w), out)
    return list(out)


def definition(w) -> list[int]:
    """The definitions of docs/quantization.md, one axis at a time, in plain Python ints."""
    res = []
    for a in range(3):
        x = [max(-2048, min(2048, int(v))) for v in np.asarray(w)[:, a]]
        L = len(x)
        mean = (sum(x) + L // 2) // L
        d = [v - mean for v in x]
        std = math.isqrt(sum(v * v for v in d) // L)
        peaks = sum(1 for i in range(1, L - 1) if x[i] > x[i - 1] and x[i] >= x[i + 1] and d[i] > std)
        zc = sum(1 for i in range(1, L) if (d[i] >= 0) != (d[i - 1] >= 0))
        rms = math.isqrt(sum(v * v for v in x) // L)
        mabs = (sum(abs(v) for v in x) + L // 2) // L
        res += [max(x), min(x), mean, std, peaks, zc, rms, mabs]
    return res


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**32 - 1), st.one_of(st.integers(1, 60), st.sampled_from((1, 2, 3, 254, 255))),
       st.sampled_from(KINDS))
def test_firmware_equals_numpy_equals_definition(ft, bitexact, seed, L, kind):
    w = window(np.random.default_rng(seed), L, kind)
    want = F.extract(w).tolist()
    assert fw_feats(ft, w) == want
    assert definition(w) == want
    bitexact.add()


def test_many_windows_bit_exact(ft, bitexact):
    rng = np.random.default_rng(3)
    ws = [window(rng, 50, KINDS[i % len(KINDS)]) for i in range(700)]
    batch = F.extract(np.stack(ws))
    for w, want in zip(ws, batch):
        assert fw_feats(ft, w) == want.tolist()
    bitexact.add(len(ws))


def test_feats_clips_buffer_in_place(ft):
    buf = array("h", [3000, -3000, 5] * 2)
    ft.feats(buf, 2, array("i", [0] * 24))
    assert list(buf) == [2048, -2048, 5] * 2


def test_isqrt_exact(ft):
    vals = list(range(0, 20000)) + [LIMIT - 1, LIMIT - 2]
    vals += [r * r + e for r in (1000, 4095, 32767, 32768 - 1) for e in (-1, 0, 1) if r * r + e < LIMIT]
    vals += np.random.default_rng(5).integers(0, LIMIT, 3000).tolist()
    want = [math.isqrt(v) for v in vals]
    assert F.isqrt(vals).tolist() == want
    assert [ft.isq(v) for v in vals] == want
    with pytest.raises(ValueError):
        F.isqrt([-1])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 255), st.sampled_from(KINDS))
def test_features_track_float_statistics(seed, L, kind):
    w = np.clip(window(np.random.default_rng(seed), L, kind), -2048, 2048).astype(np.float64)
    f = F.extract(w).reshape(3, 8)
    assert np.array_equal(f[:, 0], w.max(axis=0)) and np.array_equal(f[:, 1], w.min(axis=0))
    assert np.all(np.abs(f[:, 2] - w.mean(axis=0)) <= 0.5 + 1e-9)
    # std = floor(sqrt(var + (mu - mean)^2)), so -1 < std - sigma <= 1/2
    diff = f[:, 3] - w.std(axis=0)
    assert np.all((diff > -1 - 1e-9) & (diff <= 0.5 + 1e-9))
    rms = np.sqrt((w ** 2).mean(axis=0))
    assert np.all((f[:, 6] <= rms + 1e-9) & (f[:, 6] > rms - 1))
    assert np.all(np.abs(f[:, 7] - np.abs(w).mean(axis=0)) <= 0.5 + 1e-9)
    assert np.all((f[:, 4] >= 0) & (f[:, 4] <= (L - 1) // 2) & (f[:, 5] >= 0) & (f[:, 5] <= max(L - 1, 0)))


def test_small_int_bound_of_features():
    """Every running sum ft.feats forms stays < 2**30 for the worst windows (L = 255)."""
    rng = np.random.default_rng(11)
    worst = [np.full((255, 3), 2048), np.full((255, 3), -2048),
             np.where(np.arange(255)[:, None] % 2, 2048, -2048) * np.ones((1, 3), np.int64),
             np.where(np.arange(255)[:, None] < 128, 2048, -2048) * np.ones((1, 3), np.int64)]
    worst += [rng.choice(np.array([-2048, 2048]), (255, 3)) for _ in range(200)]
    top = 0
    for w in worst:
        x = np.clip(w, -2048, 2048).astype(np.int64)
        mean = (x.sum(axis=0) + 127) // 255
        d = x - mean
        for part in (x, np.abs(x), x * x, d * d):
            top = max(top, int(np.abs(np.cumsum(part, axis=0)).max()))
    assert top < LIMIT
    assert top > 255 * 2048 ** 2 - 1  # all-2048 reaches sum x^2 = 255 * 2**22: the bound is tight


def test_extract_shapes_and_errors():
    assert F.extract(np.zeros((7, 3))).shape == (24,)
    assert F.extract(np.zeros((4, 7, 3))).shape == (4, 24)
    assert len(F.FEATURE_NAMES) == 24 and F.FEATURE_NAMES[3] == "x_std"
    for bad in (np.zeros((4, 256, 3)), np.zeros((4, 0, 3)), np.zeros((4, 5, 2))):
        with pytest.raises(MbnnError):
            F.extract(bad)

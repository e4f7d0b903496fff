"""export/quant.py: float -> int conversion, checked against its defining formulas."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.export import quant

LIMIT = 1 << 30
scales = st.floats(min_value=1e-12, max_value=1e9, allow_nan=False, allow_infinity=False)
bounds = st.integers(min_value=0, max_value=1 << 28)


@settings(max_examples=400, deadline=None)
@given(real=scales, bound=bounds)
def test_choose_requant_obeys_small_int_rule_and_is_most_precise(real, bound):
    m, s = quant.choose_requant(real, bound)
    b = max(bound, 1)
    assert 1 <= s <= 30 and 0 <= m < LIMIT
    assert b * m + (1 << (s - 1)) < LIMIT
    if m == math.floor(real * 2 ** s + 0.5):
        # Not clipped: m is the rounded value, so the scale error is at most half a step.
        assert abs(m / 2 ** s - real) <= 0.5 / 2 ** s
        if s < 30:  # one more bit of shift would have broken the rule
            m2 = math.floor(real * 2 ** (s + 1) + 0.5)
            assert m2 >= LIMIT or b * m2 + (1 << s) >= LIMIT
    else:
        # Clipped (the factor is too large for the bound): s = 1 and m is the largest allowed.
        assert s == 1 and b * (m + 1) + 1 >= LIMIT


def test_choose_requant_examples():
    assert quant.choose_requant(0.5, 1) == (1 << 28, 29)  # s = 30 would need 2**29 + 2**29
    m, s = quant.choose_requant(1 / 50, 128 * 50)
    assert abs(m / 2 ** s - 1 / 50) < 1e-6
    assert quant.choose_requant(0.0, 1000) == (0, 30)
    m, s = quant.choose_requant(1e6, 1 << 20)  # too large: clipped, bound still holds
    assert s == 1 and (1 << 20) * m + 1 < LIMIT


def test_choose_requant_rejects_bad_input():
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(MbnnError):
            quant.choose_requant(bad, 10)
    with pytest.raises(MbnnError, match="fan-in"):
        quant.choose_requant(0.1, (1 << 28) + 1)


def test_choose_requant_array_matches_scalar(rng):
    real = rng.uniform(1e-6, 2.0, 40)
    bound = rng.integers(0, 1 << 24, 40)
    m, s = quant.choose_requant_array(real, bound)
    assert m.dtype == np.int32 and s.dtype == np.int32
    assert [(int(a), int(b)) for a, b in zip(m, s)] == [quant.choose_requant(r, b) for r, b in zip(real, bound)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 8), st.integers(1, 20), st.floats(1e-6, 1e3), st.integers(0, 2**31 - 1))
def test_quantize_weights_per_channel(out, n, mag, seed):
    w = np.random.default_rng(seed).normal(0, mag, (out, n))
    w[0] = 0.0  # an all-zero channel must get a usable scale
    q, scale = quant.quantize_weights(w)
    assert q.dtype == np.int8 and q.min() >= -127 and q.max() <= 127
    assert np.all(scale > 0) and np.all(np.isfinite(scale))
    assert np.all(q[0] == 0) and scale[0] == pytest.approx(1 / 127)
    # Each channel's largest weight maps to +/-127; the error is at most half a step.
    for c in range(1, out):
        assert np.abs(q[c]).max() == 127
        assert np.all(np.abs(q[c] * scale[c] - w[c]) <= 0.5 * scale[c] * (1 + 1e-9))


def test_quantize_weights_rejects_nan():
    with pytest.raises(MbnnError, match="retrain"):
        quant.quantize_weights(np.array([[np.nan, 1.0]]))


def test_quantize_bias_rounds_and_clips():
    sw = np.array([0.01, 0.01, 1e-12])
    q = quant.quantize_bias(np.array([0.0149, -0.025, 5.0]), 0.1, sw)
    assert q.dtype == np.int32
    assert q.tolist() == [15, -25, quant.BIAS_LIMIT]


def test_quantize_layer_never_clips_bias(rng):
    w = rng.normal(0, 1e-9, (3, 4))
    b = np.array([5.0, -3.0, 0.0])
    wq, sw, bq = quant.quantize_layer(w, b, 0.01)
    assert np.all(np.abs(bq) < quant.BIAS_LIMIT)
    assert np.allclose(bq * 0.01 * sw, b, atol=0.5 * 0.01 * sw.max())


def test_acc_bound_and_requant_affine(rng):
    wq = rng.integers(-127, 128, (5, 3, 4)).astype(np.int8)
    bq = rng.integers(-1000, 1000, 5).astype(np.int32)
    bound = quant.acc_bound(wq, bq)
    worst = [abs(int(bq[c])) + 128 * int(np.abs(wq[c].astype(int)).sum()) for c in range(5)]
    assert bound.tolist() == worst
    m, s = quant.requant_affine(wq, bq, 0.02, np.full(5, 0.01), 0.1)
    assert np.all(bound * m.astype(np.int64) + (1 << (s.astype(np.int64) - 1)) < LIMIT)


@settings(max_examples=100, deadline=None)
@given(st.floats(1e-4, 50.0))
def test_make_exp_table(scale):
    e = quant.make_exp_table(scale)
    assert 1 <= len(e) <= 256 and e[0] == 256 and all(v > 0 for v in e)
    assert all(a >= b for a, b in zip(e, e[1:]))
    for d, v in enumerate(e):
        assert v == math.floor(256 * math.exp(-d * scale) + 0.5)
    if len(e) < 256:  # truncated exactly at the first zero
        assert math.floor(256 * math.exp(-len(e) * scale) + 0.5) == 0
    with pytest.raises(MbnnError):
        quant.make_exp_table(0.0)


def test_input_shift_and_feature_params():
    assert quant.input_shift(2048) == 5  # (2048 + 16) >> 5 = 64; >> 4 would give 128
    assert quant.input_shift(1000) == 3
    off, m, s = quant.feature_input_params([10, -3000], [0.5, 1 / 300])
    assert off == [10, -3000]
    for o, mm, ss in zip(off, m, s):
        assert (2048 + abs(o)) * mm + (1 << (ss - 1)) < LIMIT
    assert m[0] / 2 ** s[0] == pytest.approx(0.5) and m[1] / 2 ** s[1] == pytest.approx(1 / 300, rel=1e-6)

"""export/reference.py, the numpy oracle, against firmware/qk.py and ft.py under
CPython (bit for bit), against float PyTorch (within the bound derived in
docs/quantization.md), and against the small-int rule (|intermediate| < 2**30)."""

from array import array

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings, strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.export import quant, reference as R
from microbit_nn.export.qmodel import (AvgPool1d, Conv1d, Dense, FeatureInput, GlobalAvgPool, GlobalMaxPool,
                                       MaxPool1d, RawInput)

LIMIT = 1 << 30
MODES = ("random", "min", "zero", "max", "alternate", "small")


def b8(a) -> array:
    return array("b", np.asarray(a).astype(np.int8).tobytes())


def i32(a) -> array:
    return array("i", [int(v) for v in np.ravel(a)])


def int8s(rng, shape, mode: str) -> np.ndarray:
    """int8 values: random over the full range, small, or an edge pattern."""
    if mode == "min":
        return np.full(shape, -128, np.int64)
    if mode == "zero":
        return np.zeros(shape, np.int64)
    if mode == "max":
        return np.full(shape, 127, np.int64)
    if mode == "alternate":
        return np.where(np.arange(int(np.prod(shape))).reshape(shape) % 2, 127, -128)
    if mode == "small":
        return rng.integers(-4, 5, shape)
    return rng.integers(-128, 128, shape)


def bias(rng, n, mode):
    if mode == "small":
        return rng.integers(-8, 9, n)
    return rng.integers(-quant.BIAS_LIMIT, quant.BIAS_LIMIT + 1, n) >> rng.integers(0, 24)


def conv_acc(x, w, b, stride, pad):
    """The int accumulators of a conv (before requantization)."""
    k = w.shape[1]
    xp = np.pad(np.asarray(x, np.int64), ((0, 0), (pad, pad), (0, 0)))
    lo = (x.shape[1] + 2 * pad - k) // stride + 1
    idx = np.arange(lo)[:, None] * stride + np.arange(k)[None, :]
    return np.einsum("ntkc,okc->nto", xp[:, idx, :], np.asarray(w, np.int64)) + b


def requant_params(rng, bound, acc, shift_mode: str):
    """Per-channel (m, s) obeying the small-int rule for accumulator bound `bound`:
    "fit" puts this input's outputs mid-range, "wild" is log-uniform (clipped m
    happens too), "s1" / "s30" force the extreme shifts (s1 with a small acc
    hits exact halves, i.e. the rounding rule)."""
    n = len(bound)
    top = np.abs(np.asarray(acc, np.int64)).reshape(-1, n).max(axis=0)
    if shift_mode == "s1":
        hi = [min((LIMIT - 2) // max(int(b), 1), max(1, 512 // max(int(t), 1))) for b, t in zip(bound, top)]
        return np.array([rng.integers(0, h + 1) for h in hi]), np.ones(n, np.int64)
    if shift_mode == "s30":
        hi = [((1 << 29) - 1) // max(int(b), 1) for b in bound]
        return np.array([rng.integers(0, h + 1) for h in hi]), np.full(n, 30)
    if shift_mode == "fit":
        return quant.choose_requant_array(rng.uniform(0.3, 3.0, n) * 127 / np.maximum(top, 1), bound)
    return quant.choose_requant_array(10.0 ** rng.uniform(-9, 1, n), bound)


def dense_case(qk, rng, n_in, n_out, mode, shift_mode, relu):
    x = int8s(rng, (1, n_in), mode)
    w = int8s(rng, (n_out, n_in), mode if mode != "zero" else "random")
    b = bias(rng, n_out, mode)
    m, s = requant_params(rng, quant.acc_bound(w, b), x @ w.T + b, shift_mode)
    want = R.dense(x, w, b, m, s, relu)[0]
    y = b8(np.zeros(n_out))
    qk.dense(b8(x[0]), b8(w), i32(b), i32(m), i32(s), y, 0 if relu else -128)
    assert list(y) == want.tolist()


def conv_case(qk, rng, L, ci, co, k, stride, pad, mode, shift_mode, relu):
    x = int8s(rng, (1, L, ci), mode)
    w = int8s(rng, (co, k, ci), mode if mode != "zero" else "random")
    b = bias(rng, co, mode) >> 8
    m, s = requant_params(rng, quant.acc_bound(w, b), conv_acc(x, w, b, stride, pad), shift_mode)
    want = R.conv1d(x, w, b, m, s, stride, pad, relu)[0]
    y = b8(np.zeros(want.size))
    qk.conv(b8(x[0]), L, ci, b8(w), k, stride, pad, i32(b), i32(m), i32(s), y, 0 if relu else -128)
    assert list(y) == want.ravel().tolist()


def pool_case(qk, rng, L, c, k, stride, mode):
    x = int8s(rng, (1, L, c), mode)
    xa = b8(x[0])
    want = R.maxpool1d(x, k, stride)[0].ravel()
    y = b8(np.zeros(want.size))
    qk.mpool(xa, L, c, k, stride, y)
    assert list(y) == want.tolist()
    m, s = quant.choose_requant(1.0 / k, 128 * k)
    want = R.avgpool1d(x, k, stride, m, s)[0].ravel()
    qk.apool(xa, L, c, k, stride, m, s, y)
    assert list(y) == want.tolist()
    m, s = quant.choose_requant(10.0 ** rng.uniform(-4, 0), 128 * L)
    y = b8(np.zeros(c))
    qk.gap(xa, L, c, m, s, y)
    assert list(y) == R.global_avg_pool(x, m, s)[0].tolist()
    qk.gmp(xa, L, c, y)
    assert list(y) == R.global_max_pool(x)[0].tolist()
    return 4


def misc_case(qk, rng, n, mode):
    """amax, conf, rawq and featq on one random vector."""
    y = int8s(rng, (n,), mode)
    assert qk.amax(b8(y)) == int(R.argmax(y))
    e = quant.make_exp_table(10.0 ** rng.uniform(-3, 1))
    assert qk.conf(b8(y), e) == int(R.confidence(y, e))
    raw = rng.integers(-32768, 32768, (1, n, 3))
    if mode == "min":
        raw[:] = -32768
    sh = int(rng.integers(1, 16))
    out = b8(np.zeros(3 * n))
    qk.rawq(array("h", raw.ravel().tolist()), 3 * n, sh, out)
    assert list(out) == R.raw_input(raw, sh).ravel().tolist()
    f = rng.integers(-2048, 2049, 24)
    off, m, s = quant.feature_input_params(rng.integers(-2048, 2049, 24), 10.0 ** rng.uniform(-4, 1, 24))
    fin = FeatureInput(offset=off, mult=m, shift=s)
    out = b8(np.zeros(24))
    qk.featq(i32(f), i32(off), i32(m), i32(s), out)
    assert list(out) == R.feature_input(f[None], fin)[0].tolist()
    return 4


# ---- hypothesis: shapes, modes and shifts chosen adversarially ---------------
seeds = st.integers(0, 2**32 - 1)
modes = st.sampled_from(MODES)
shift_modes = st.sampled_from(("fit", "wild", "s1", "s30"))


@settings(max_examples=300, deadline=None)
@given(seeds, st.integers(1, 40), st.integers(1, 12), modes, shift_modes, st.booleans())
def test_dense_bit_exact(qk, bitexact, seed, n_in, n_out, mode, shift_mode, relu):
    dense_case(qk, np.random.default_rng(seed), n_in, n_out, mode, shift_mode, relu)
    bitexact.add()


@settings(max_examples=400, deadline=None)
@given(seeds, st.integers(1, 24), st.integers(1, 5), st.integers(1, 5), st.integers(1, 7),
       st.integers(1, 6), st.integers(0, 8), modes, shift_modes, st.booleans())
def test_conv_bit_exact(qk, bitexact, seed, L, ci, co, k, stride, pad, mode, shift_mode, relu):
    assume((L + 2 * pad - k) // stride + 1 >= 1)
    conv_case(qk, np.random.default_rng(seed), L, ci, co, k, stride, pad, mode, shift_mode, relu)
    bitexact.add()


@settings(max_examples=300, deadline=None)
@given(seeds, st.integers(1, 30), st.integers(1, 6), st.integers(1, 6), st.integers(1, 7), modes)
def test_pools_bit_exact(qk, bitexact, seed, L, c, k, stride, mode):
    assume(k <= L)
    bitexact.add(pool_case(qk, np.random.default_rng(seed), L, c, k, stride, mode))


@settings(max_examples=300, deadline=None)
@given(seeds, st.integers(1, 20), modes)
def test_misc_ops_bit_exact(qk, bitexact, seed, n, mode):
    bitexact.add(misc_case(qk, np.random.default_rng(seed), n, mode))


@settings(max_examples=300, deadline=None)
@given(st.integers(-(1 << 24), 1 << 24), st.integers(1, 30), st.integers(0, 1 << 10), st.sampled_from((0, -128)))
def test_rq_bit_exact(qk, bitexact, acc, s, m, lo):
    assume(abs(acc) * m + (1 << (s - 1)) < LIMIT)
    assert qk.rq(acc, m, s, lo) == int(R.requant(acc, m, s, relu=lo == 0))
    bitexact.add()


def test_many_random_cases_bit_exact(qk, bitexact):
    """Plain numpy-driven loop: thousands more small cases, cheaply."""
    rng = np.random.default_rng(7)
    n = 0
    for i in range(2500):
        mode = MODES[i % len(MODES)] if i % 3 == 0 else "random"
        shift_mode = ("fit", "wild", "s1", "s30")[i % 4]
        dense_case(qk, rng, int(rng.integers(1, 17)), int(rng.integers(1, 7)), mode, shift_mode, bool(i & 1))
        L, k, stride, pad = (int(v) for v in (rng.integers(1, 12), rng.integers(1, 6), rng.integers(1, 5), rng.integers(0, 6)))
        if (L + 2 * pad - k) // stride + 1 >= 1:
            conv_case(qk, rng, L, int(rng.integers(1, 4)), int(rng.integers(1, 4)), k, stride, pad, mode, shift_mode, bool(i & 2))
            n += 1
        n += 1 + pool_case(qk, rng, L, int(rng.integers(1, 4)), min(k, L), stride, mode)
        n += misc_case(qk, rng, int(rng.integers(1, 9)), mode)
    bitexact.add(n)
    assert n >= 20000


# ---- the whole model: firmware pipeline == reference ---------------------------
def fw_run(qk, ft, qm, window):
    """Run a QModel with the firmware kernels the way the device app does."""
    if isinstance(qm.input, RawInput):
        L, c = qm.window, 3
        x = b8(np.zeros(3 * L))
        qk.rawq(array("h", window.ravel().tolist()), 3 * L, qm.input.shift, x)
    else:
        f = array("i", [0] * 24)
        ft.feats(array("h", window.ravel().tolist()), qm.window, f)
        x = b8(np.zeros(24))
        qk.featq(f, i32(qm.input.offset), i32(qm.input.mult), i32(qm.input.shift), x)
        L, c = 1, 24
    acts = [list(x)]
    for l in qm.layers:
        if isinstance(l, Dense):
            y = b8(np.zeros(len(l.b)))
            qk.dense(x, b8(l.w), i32(l.b), i32(l.mult), i32(l.shift), y, 0 if l.relu else -128)
            L, c = 1, len(l.b)
        elif isinstance(l, Conv1d):
            k, lo = l.w.shape[1], (L + 2 * l.pad - l.w.shape[1]) // l.stride + 1
            y = b8(np.zeros(lo * len(l.b)))
            qk.conv(x, L, c, b8(l.w), k, l.stride, l.pad, i32(l.b), i32(l.mult), i32(l.shift), y,
                    0 if l.relu else -128)
            L, c = lo, len(l.b)
        elif isinstance(l, (MaxPool1d, AvgPool1d)):
            lo = (L - l.k) // l.stride + 1
            y = b8(np.zeros(lo * c))
            if isinstance(l, MaxPool1d):
                qk.mpool(x, L, c, l.k, l.stride, y)
            else:
                qk.apool(x, L, c, l.k, l.stride, l.mult, l.shift, y)
            L = lo
        else:
            y = b8(np.zeros(c))
            if isinstance(l, GlobalAvgPool):
                qk.gap(x, L, c, l.mult, l.shift, y)
            else:
                qk.gmp(x, L, c, y)
            L = 1
        x = y
        acts.append(list(x))
    return acts, qk.amax(x), qk.conf(x, qm.exp_table)


def windows(rng, n, L):
    """Gesture-like windows plus extremes (full int16 range, clipping, constant)."""
    t = np.arange(L)[None, :, None]
    w = rng.normal(0, 600, (n, 1, 3)) * np.sin(t * rng.uniform(0.05, 0.6, (n, 1, 3)) + rng.uniform(0, 6, (n, 1, 3)))
    w = w + rng.normal(0, 80, (n, L, 3)) + rng.normal(0, 500, (n, 1, 3))
    w = np.clip(np.rint(w), -32768, 32767).astype(np.int64)
    w[0] = 32767
    w[1] = -32768
    w[2] = rng.integers(-32768, 32768, (L, 3))
    w[3] = 0
    w[4] = np.where(np.arange(L)[:, None] % 2, 2048, -2048)
    return w


@pytest.mark.parametrize("kind,variant", [("mlp", None), ("cnn", None), ("cnn", "avg"), ("cnn", "gmp")])
def test_model_firmware_matches_reference(qk, ft, bitexact, rng, qmodel_factory, kind, variant):
    qm = qmodel_factory(kind, rng, n_classes=5, window=40)
    if variant == "avg":
        m, s = quant.choose_requant(0.5, 256)
        qm.layers[1] = AvgPool1d(k=2, stride=2, mult=m, shift=s)
    elif variant == "gmp":
        qm.layers[3] = GlobalMaxPool()
    qm.validate()
    ws = windows(rng, 60, qm.window)
    logits = R.run(qm, ws)
    labels, conf = R.predict(qm, ws)
    for i, w in enumerate(ws):
        acts, top, c = fw_run(qk, ft, qm, w)
        want = R.trace(qm, w)
        assert [a for a in acts] == [v.ravel().tolist() for v in want]
        assert acts[-1] == logits[i].tolist() and top == labels[i] and c == conf[i]
    bitexact.add(len(ws))
    assert R.max_intermediate(qm, ws) < LIMIT


def test_run_rejects_wrong_window(rng, qmodel_factory):
    qm = qmodel_factory("cnn", rng, window=40)
    with pytest.raises(MbnnError, match="40, 3"):
        R.run(qm, np.zeros((2, 39, 3), np.int16))


# ---- integer vs float: the error bound of docs/quantization.md -----------------
def affine_bound(acc, m, s, real):
    """|y_int - y_float / s_out| <= 1/2 + |acc| * |m/2**s - real| + real/2 (bias rounding)."""
    return 0.5 + np.abs(acc) * np.abs(m / 2.0 ** s - real) + 0.5 * real + 1e-9


@settings(max_examples=150, deadline=None)
@given(seeds, st.integers(1, 48), st.integers(1, 10), st.floats(1e-3, 1.0), st.floats(1e-3, 10.0), st.booleans())
def test_dense_tracks_float(seed, n_in, n_out, s_in, s_out, relu):
    rng = np.random.default_rng(seed)
    bias = rng.normal(0, 1.0, n_out)
    wq, sw, bq = quant.quantize_layer(rng.normal(0, 0.5, (n_out, n_in)), bias, s_in)  # bias never clips
    m, s = quant.requant_affine(wq, bq, s_in, sw, s_out)
    x = rng.integers(-128, 128, (16, n_in))
    y = R.dense(x, wq, bq, m, s, relu)
    yf = F.linear(torch.tensor(x * s_in), torch.tensor(wq * sw[:, None]), torch.tensor(bias)).numpy() / s_out
    yf = np.clip(yf, 0 if relu else -128, 127)
    acc = x @ wq.T.astype(np.int64) + bq
    assert np.all(np.abs(y - yf) <= affine_bound(acc, m, s, s_in * sw / s_out))


@settings(max_examples=150, deadline=None)
@given(seeds, st.integers(1, 30), st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.integers(1, 3),
       st.integers(0, 4), st.floats(1e-3, 1.0), st.floats(1e-3, 10.0))
def test_conv_tracks_float(seed, L, ci, co, k, stride, pad, s_in, s_out):
    assume((L + 2 * pad - k) // stride + 1 >= 1)
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.5, (co, ci, k))  # torch layout [Cout, Cin, K]
    bias = rng.normal(0, 1.0, co)
    wq, sw, bq = quant.quantize_layer(w.transpose(0, 2, 1), bias, s_in)  # ours: [Cout, K, Cin]
    m, s = quant.requant_affine(wq, bq, s_in, sw, s_out)
    x = rng.integers(-128, 128, (8, L, ci))
    y = R.conv1d(x, wq, bq, m, s, stride, pad, relu=False)
    wf = torch.tensor(wq.transpose(0, 2, 1) * sw[:, None, None])
    yf = F.conv1d(torch.tensor(x * s_in).transpose(1, 2), wf, torch.tensor(bias), stride, pad).transpose(1, 2).numpy()
    yf = np.clip(yf / s_out, -128, 127)
    acc = conv_acc(x, wq, bq, stride, pad)
    assert np.all(np.abs(y - yf) <= affine_bound(acc, m, s, s_in * sw / s_out))


@settings(max_examples=100, deadline=None)
@given(seeds, st.integers(1, 60), st.integers(1, 8))
def test_pools_track_float(seed, L, k):
    assume(k <= L)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (4, L, 3))
    m, s = quant.choose_requant(1.0 / k, 128 * k)
    y = R.avgpool1d(x, k, 1, m, s)
    yf = F.avg_pool1d(torch.tensor(x, dtype=torch.float64).transpose(1, 2), k, 1).transpose(1, 2).numpy()
    assert np.all(np.abs(y - yf) <= 0.5 + 128 * k * abs(m / 2 ** s - 1 / k) + 1e-9)
    m, s = quant.choose_requant(1.0 / L, 128 * L)
    y = R.global_avg_pool(x, m, s)
    assert np.all(np.abs(y - x.mean(axis=1)) <= 0.5 + 128 * L * abs(m / 2 ** s - 1 / L) + 1e-9)
    assert np.array_equal(R.maxpool1d(x, k, 1),
                          F.max_pool1d(torch.tensor(x, dtype=torch.float64).transpose(1, 2), k, 1).transpose(1, 2).numpy())


def test_confidence_tracks_softmax(rng):
    for scale in (0.01, 0.05, 0.2, 1.0):
        e = quant.make_exp_table(scale)
        y = rng.integers(-128, 128, (500, 6))
        conf = R.confidence(y, e)
        p = torch.softmax(torch.tensor(y * scale, dtype=torch.float64), dim=1).max(dim=1).values.numpy()
        true = 256 * np.exp(-(y.max(axis=1, keepdims=True) - y) * scale).sum(axis=1)
        slack = 0.5 * y.shape[1]  # each table entry is off by at most 1/2
        bound = 1 + 25600 * slack / (256 * (true - slack))
        assert np.all(np.abs(conf - 100 * p) <= bound)
        assert np.all((conf >= 100 // 6) & (conf <= 100))


def test_argmax_first_wins_and_confidence_definition():
    y = np.array([[3, 7, 7, -1], [0, 0, 0, 0]])
    assert R.argmax(y).tolist() == [1, 0]
    e = [256, 100, 40]
    # row 0: gaps 4, 0, 0, 8 -> only the two 7s are within the table
    assert R.confidence(y, e).tolist() == [25600 // 512, 25600 // 1024]
    assert int(R.confidence(np.array([5, 4, 3]), e)) == 25600 // 396


# ---- the small-int rule holds, and the probe would notice if it did not --------
def test_small_int_rule_worst_case_inputs(rng):
    for trial in range(40):
        n_in, n_out = int(rng.integers(1, 200)), int(rng.integers(1, 8))
        w = rng.integers(-127, 128, (n_out, n_in))
        b = rng.integers(-quant.BIAS_LIMIT, quant.BIAS_LIMIT + 1, n_out)
        m, s = quant.choose_requant_array(10.0 ** rng.uniform(-9, 1, n_out), quant.acc_bound(w, b))
        # Worst input for channel o: every product and the bias share one sign.
        x = np.where(w * np.sign(b)[:, None] >= 0, 127, -128)
        x = np.where(np.sign(b)[:, None] < 0, np.where(w > 0, -128, 127), x)
        with R.Probe() as p:
            R.dense(x, w, b, m, s)
        assert p.max_abs < LIMIT
        acc = (x[:, None, :] * w[None]).sum(axis=2) + b  # [input o, channel]
        worst = np.abs(np.diagonal(acc)) * m
        assert p.max_abs >= worst.max()  # the probe sees the real products
    # A multiplier above the rule is caught by the probe.
    w = np.full((1, 100), -127)
    m, s = quant.choose_requant(0.1, int(quant.acc_bound(w, [0])[0]))
    with R.Probe() as p:
        R.dense(np.full((1, 100), -128), w, [0], [2 * m + 2], [s])
    assert p.max_abs >= LIMIT


def test_small_int_rule_whole_models_extreme_windows(rng, qmodel_factory):
    for kind in ("mlp", "cnn"):
        qm = qmodel_factory(kind, rng, window=50)
        ws = windows(rng, 40, 50)
        assert 0 < R.max_intermediate(qm, ws) < LIMIT

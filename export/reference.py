"""Vectorised numpy integer reference of every op and of a whole QModel: the oracle.

All maths is int64 and follows docs/quantization.md exactly, so firmware/qk.py
(CPython and device) must agree with it bit for bit. Activations are batched:
sequences are [N, L, C] (time-major), vectors [N, F].

`Probe` records the largest |intermediate| each op computes, as the device
would compute it, to check the small-int rule (|v| < 2**30).
"""

from __future__ import annotations

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export import features as _features
from microbit_nn.export.qmodel import (AvgPool1d, Conv1d, Dense, FeatureInput, GlobalAvgPool,
                                       GlobalMaxPool, MaxPool1d, QModel, RawInput)


class Probe:
    """Max |intermediate| seen by the ops (pass `probe=` or use `with Probe() as p`)."""

    active: "Probe | None" = None

    def __init__(self):
        self.max_abs = 0

    def see(self, *arrays) -> None:
        for a in arrays:
            a = np.asarray(a)
            if a.size:
                self.max_abs = max(self.max_abs, int(np.abs(a).max()))

    def __enter__(self) -> "Probe":
        Probe.active = self
        return self

    def __exit__(self, *exc) -> None:
        Probe.active = None


def _see(*arrays) -> None:
    if Probe.active is not None:
        Probe.active.see(*arrays)


def _see_partials(prods: np.ndarray, b: np.ndarray) -> None:
    """Products [..., out, taps] and the device's running sums b + p0 + p1 + ..."""
    _see(prods, b[:, None] + np.cumsum(prods, axis=-1))


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def requant(acc, m, s, relu: bool = False) -> np.ndarray:
    """clamp((acc * m + 2**(s-1)) >> s, 0 if relu else -128, 127); m, s broadcast on the last axis."""
    acc, m, s = _i64(acc), _i64(m), _i64(s)
    t = acc * m
    r = t + (np.int64(1) << (s - 1))
    _see(acc, t, r)
    return np.clip(r >> s, 0 if relu else -128, 127)


def relu(x) -> np.ndarray:
    """max(x, 0)."""
    return np.maximum(_i64(x), 0)


def flatten(x) -> np.ndarray:
    """[N, L, C] -> [N, L*C] in the device's time-major order (x[t*C + c])."""
    x = _i64(x)
    return x.reshape(x.shape[0], -1)


def dense(x, w, b, m, s, relu: bool = False) -> np.ndarray:
    """x [N, in] (or [N, L, C], flattened) int8; w [out, in]; -> [N, out]."""
    x = flatten(x) if np.ndim(x) == 3 else _i64(x)
    w, b = _i64(w), _i64(b)
    acc = x @ w.T + b
    if Probe.active is not None:
        _see_partials(x[:, None, :] * w[None, :, :], b)
    return requant(acc, m, s, relu)


def conv1d(x, w, b, m, s, stride: int = 1, pad: int = 0, relu: bool = False) -> np.ndarray:
    """x [N, L, Cin] int8, w [Cout, K, Cin], zero padding `pad` both sides -> [N, Lo, Cout]."""
    x, w = _i64(x), _i64(w)
    n, L, ci = x.shape
    co, k, _ = w.shape
    lo = (L + 2 * pad - k) // stride + 1
    if lo < 1:
        return np.zeros((n, 0, co), np.int64)
    xp = np.zeros((n, L + 2 * pad + k + stride, ci), np.int64)
    xp[:, pad:pad + L] = x
    # Gather the receptive field of every output step: [N, Lo, K, Cin].
    idx = np.arange(lo)[:, None] * stride + np.arange(k)[None, :]
    patches = xp[:, idx, :]
    acc = np.einsum("ntkc,okc->nto", patches, w) + _i64(b)
    if Probe.active is not None:
        prods = np.einsum("ntkc,okc->ntokc", patches, w)
        _see_partials(prods.reshape(prods.shape[:3] + (-1,)), _i64(b))
    return requant(acc, m, s, relu)


def maxpool1d(x, k: int, stride: int) -> np.ndarray:
    """Max over windows of k steps: [N, L, C] -> [N, (L-k)//stride+1, C]."""
    x = _i64(x)
    lo = (x.shape[1] - k) // stride + 1
    idx = np.arange(lo)[:, None] * stride + np.arange(k)[None, :]
    return x[:, idx, :].max(axis=2)


def avgpool1d(x, k: int, stride: int, m: int, s: int) -> np.ndarray:
    """Windowed sum requantized by (m, s) ~ 1/k: [N, L, C] -> [N, Lo, C]."""
    x = _i64(x)
    lo = (x.shape[1] - k) // stride + 1
    idx = np.arange(lo)[:, None] * stride + np.arange(k)[None, :]
    return requant(x[:, idx, :].sum(axis=2), m, s)


def global_avg_pool(x, m: int, s: int) -> np.ndarray:
    """Sum over time requantized by (m, s) ~ 1/L: [N, L, C] -> [N, C]."""
    return requant(_i64(x).sum(axis=1), m, s)


def global_max_pool(x) -> np.ndarray:
    """Max over time: [N, L, C] -> [N, C]."""
    return _i64(x).max(axis=1)


def argmax(y) -> np.ndarray:
    """Index of the largest logit per row; the first one wins ties."""
    return np.argmax(_i64(y), axis=-1)


def raw_input(windows, shift: int) -> np.ndarray:
    """int16 milli-g [N, L, 3] -> int8 clamp((v + 2**(shift-1)) >> shift, -128, 127)."""
    v = _i64(windows)
    r = v + (1 << (shift - 1))
    _see(r)
    return np.clip(r >> shift, -128, 127)


def feature_input(feats, fin: FeatureInput) -> np.ndarray:
    """Integer features [N, 24] -> int8 [N, 24] via the per-feature quantizer."""
    d = _i64(feats) - _i64(fin.offset)
    return requant(d, fin.mult, fin.shift)


def confidence(logits, exp_table) -> np.ndarray:
    """Percent confidence of the top class: 100*256 // sum(E[top - l] for l with top - l < len(E))."""
    y = _i64(logits)
    single = y.ndim == 1
    y = np.atleast_2d(y)
    e = _i64(list(exp_table) + [0])  # index len(E) stands for "too far": contributes 0
    d = np.minimum(y.max(axis=1, keepdims=True) - y, len(exp_table))
    c = (100 * 256) // e[d].sum(axis=1)
    return c[0] if single else c


def quantize_input(qm: QModel, windows) -> np.ndarray:
    """The int8 input activation of a model: [N, L, 3] (raw) or [N, 24] (features)."""
    w = _i64(windows)
    if w.ndim != 3 or w.shape[1:] != (qm.window, 3):
        raise MbnnError(f"windows must have shape [N, {qm.window}, 3] for this model, got {list(w.shape)}")
    if isinstance(qm.input, RawInput):
        return raw_input(w, qm.input.shift)
    return feature_input(_features.extract(w), qm.input)


def apply_layer(layer, x) -> np.ndarray:
    """One QModel layer on a batch of activations."""
    if isinstance(layer, Dense):
        return dense(x, layer.w, layer.b, layer.mult, layer.shift, layer.relu)
    if isinstance(layer, Conv1d):
        return conv1d(x, layer.w, layer.b, layer.mult, layer.shift, layer.stride, layer.pad, layer.relu)
    if isinstance(layer, MaxPool1d):
        return maxpool1d(x, layer.k, layer.stride)
    if isinstance(layer, AvgPool1d):
        return avgpool1d(x, layer.k, layer.stride, layer.mult, layer.shift)
    if isinstance(layer, GlobalAvgPool):
        return global_avg_pool(x, layer.mult, layer.shift)
    if isinstance(layer, GlobalMaxPool):
        return global_max_pool(x)
    raise MbnnError(f"unknown layer {type(layer).__name__}: re-export the model")


def trace(qm: QModel, window) -> list[np.ndarray]:
    """The int activations of one window [L, 3]: input, then each layer's output."""
    acts = [quantize_input(qm, _i64(window)[None])]
    for layer in qm.layers:
        acts.append(apply_layer(layer, acts[-1]))
    return [a[0] for a in acts]


def run(qm: QModel, windows, batch: int = 4096) -> np.ndarray:
    """int logits [N, n_classes] for int16 windows [N, L, 3] (batched to bound memory)."""
    w = _i64(windows)
    outs = []
    for i in range(0, max(len(w), 1), batch):
        x = quantize_input(qm, w[i:i + batch])
        for layer in qm.layers:
            x = apply_layer(layer, x)
        outs.append(x)
    return np.concatenate(outs, axis=0)


def predict(qm: QModel, windows) -> tuple[np.ndarray, np.ndarray]:
    """(top class index, confidence percent) per window; "unknown" is conf < qm.threshold."""
    y = run(qm, windows)
    return argmax(y), confidence(y, qm.exp_table)


def max_intermediate(qm: QModel, windows) -> int:
    """Largest |intermediate| the device computes over these windows (< 2**30 required)."""
    with Probe() as p:
        run(qm, windows, batch=256)
    return p.max_abs

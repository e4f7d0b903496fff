"""Float -> integer conversion for the int8 scheme (docs/quantization.md).

Everything here runs on the PC. The device only ever sees the integers these
functions produce: int8 weights, int32 biases, and per-channel requantization
pairs (m, s) meaning the real factor m / 2**s.
"""

from __future__ import annotations

import math

import numpy as np

from microbit_nn.errors import MbnnError

SMALL_INT = 1 << 30  # MicroPython small ints (31-bit on the micro:bit) hold |v| < 2**30
SHIFT_MIN, SHIFT_MAX = 1, 30
BIAS_LIMIT = (1 << 24) - 1  # |int32 bias| cap: 64x below the small-int limit
ACC_LIMIT = 1 << 28  # largest accumulator bound we accept: leaves m >= 3 bits of precision
EXP_TABLE_MAX = 256


def round_half_up(x):
    """floor(x + 0.5): the rounding the integer requantization performs."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5)


def choose_requant(real_scale: float, acc_bound: int) -> tuple[int, int]:
    """The most precise (m, s) with m / 2**s ~= real_scale that keeps every
    intermediate of `(acc * m + 2**(s-1)) >> s` a small int for |acc| <= acc_bound.

    Constraint: acc_bound * m + 2**(s-1) < 2**30, 1 <= s <= 30, 0 <= m < 2**30.
    The largest s that obeys it wins (it has the most significant bits in m).
    When even s = 1 cannot hold round(2 * real_scale), m is clipped to the
    bound: the layer then computes with a smaller scale than asked (its
    outputs saturate for such large factors anyway; see docs/quantization.md).
    Raises MbnnError for a negative/non-finite scale or an accumulator bound
    that leaves no room (a layer with too large a fan-in or bias).
    """
    real = float(real_scale)
    bound = max(int(acc_bound), 1)
    if not math.isfinite(real) or real < 0:
        raise MbnnError(f"requantization scale {real_scale!r} is not a finite positive number: retrain or recalibrate the model")
    if bound > ACC_LIMIT:
        raise MbnnError(f"accumulator bound {bound} exceeds 2**28: use a layer with a smaller fan-in")
    for s in range(SHIFT_MAX, SHIFT_MIN - 1, -1):
        m = int(round_half_up(real * (1 << s)))
        if m < SMALL_INT and bound * m + (1 << (s - 1)) < SMALL_INT:
            return m, s
    # Even s = 1 overflows: clip m to the largest value the bound allows.
    return (SMALL_INT - 2) // bound, 1


def choose_requant_array(real_scales, acc_bounds) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel `choose_requant`: int32 arrays (m, s) of the broadcast shape."""
    real, bound = np.broadcast_arrays(np.asarray(real_scales, np.float64), np.asarray(acc_bounds, np.int64))
    pairs = [choose_requant(r, b) for r, b in zip(real.ravel(), bound.ravel())]
    m = np.array([p[0] for p in pairs], np.int32).reshape(real.shape)
    s = np.array([p[1] for p in pairs], np.int32).reshape(real.shape)
    return m, s


def weight_scales(w: np.ndarray, min_scale=None) -> np.ndarray:
    """Per-output-channel (axis 0) symmetric scale max|w| / 127; an all-zero
    channel gets 1/127 (its weights are 0 under any scale, and this keeps its
    bias on a sane grid). `min_scale` (per channel) raises scales from below."""
    w = np.asarray(w, np.float64)
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) if w.size else np.zeros(w.shape[0])
    scale = np.where(amax > 0, amax, 1.0) / 127.0
    if min_scale is not None:
        scale = np.maximum(scale, np.asarray(min_scale, np.float64))
    return scale


def quantize_weights(w: np.ndarray, min_scale=None) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights in [-127, 127] and their float64 per-output-channel scales."""
    w = np.asarray(w, np.float64)
    if not np.all(np.isfinite(w)):
        raise MbnnError("weights contain NaN or infinity: the training diverged, retrain with a lower learning rate")
    scale = weight_scales(w, min_scale)
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = np.clip(round_half_up(w / scale.reshape(shape)), -127, 127)
    return q.astype(np.int8), scale


def quantize_bias(b: np.ndarray, s_in: float, s_w: np.ndarray) -> np.ndarray:
    """int32 bias at scale s_in * s_w[c], clipped to +/-BIAS_LIMIT (2**24 - 1)."""
    b = np.asarray(b, np.float64)
    q = round_half_up(b / (float(s_in) * np.asarray(s_w, np.float64)))
    return np.clip(q, -BIAS_LIMIT, BIAS_LIMIT).astype(np.int32)


def quantize_layer(w: np.ndarray, b: np.ndarray, s_in: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, scales and bias of one layer such that the bias never clips:
    a channel whose bias would exceed BIAS_LIMIT gets a coarser weight scale
    (its weights are negligible next to its bias anyway)."""
    need = np.abs(np.asarray(b, np.float64)) / (float(s_in) * (BIAS_LIMIT - 1))
    wq, sw = quantize_weights(w, min_scale=need)
    return wq, sw, quantize_bias(b, s_in, sw)


def acc_bound(wq: np.ndarray, bq: np.ndarray) -> np.ndarray:
    """Per-channel max |acc| over all int8 inputs: |b| + 128 * sum|w|."""
    w = np.abs(np.asarray(wq, np.int64)).reshape(len(wq), -1).sum(axis=1)
    return np.abs(np.asarray(bq, np.int64)) + 128 * w


def requant_affine(wq: np.ndarray, bq: np.ndarray, s_in: float, s_w: np.ndarray, s_out: float) -> tuple[np.ndarray, np.ndarray]:
    """(m, s) per channel for a dense/conv layer mapping scale s_in*s_w[c] to s_out."""
    return choose_requant_array(float(s_in) * np.asarray(s_w, np.float64) / float(s_out), acc_bound(wq, bq))


def make_exp_table(out_scale: float) -> list[int]:
    """E[d] = round(256 * exp(-d * out_scale)) for logit gaps d, up to the
    first zero (excluded) and at most 256 entries. E[0] = 256."""
    scale = float(out_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise MbnnError(f"output scale {out_scale!r} must be a positive number: recalibrate the model")
    table = []
    for d in range(EXP_TABLE_MAX):
        e = int(math.floor(256.0 * math.exp(-d * scale) + 0.5))
        if e == 0:
            break
        table.append(e)
    return table


def input_shift(max_abs_mg: int) -> int:
    """Smallest raw-input shift sh >= 1 so that +/-max_abs_mg fits int8 after `>> sh`."""
    sh = 1
    while (int(max_abs_mg) + (1 << (sh - 1))) >> sh > 127 and sh < 15:
        sh += 1
    return sh


def feature_input_params(offset, real_scale, span: int = 2048) -> tuple[list[int], list[int], list[int]]:
    """Integer feature quantizer: q = clamp(((f - off) * m + 2**(s-1)) >> s, -128, 127)
    with m / 2**s ~= real_scale (1 / feature step). Features are bounded by
    |f| <= span (2048 for the features of export/features.py), so
    |f - off| <= span + |off| bounds the accumulator."""
    off = np.rint(np.asarray(offset, np.float64)).astype(np.int64)
    m, s = choose_requant_array(real_scale, span + np.abs(off))
    m, s = np.broadcast_to(m, off.shape), np.broadcast_to(s, off.shape)
    return [int(v) for v in off], [int(v) for v in m], [int(v) for v in s]

"""Golden vectors for the on-device selftest (firmware/st.py), made by the numpy reference.

`golden_file(qm, plan)` returns `st.bin`: one record per test, which st.py
reads one at a time so the V1 heap only ever holds one test. Every kernel the
device has (`plan`, from writer.kernel_plan) gets seeded random inputs with
edge cases, and the whole exported model runs on a few windows. st.py runs a
kernel test with every device module that has the function (qk, ft).
Record layout (little-endian):

    kind (u8: 0 end, 1 kernel call, 2 whole model)
    name (u8 length + ASCII: the T line's name), kernel (u8 length + ASCII)
    y position (i8: where the output array goes in the call; -1: y[0] = result)
    argument count (u8), the arguments, then the expected output array

An argument is an array (typecode 'b', 'h' or 'i' as u8, item count u16, the
items) or a number ('n', int32). The output array has the expected's type
and size. A whole-model test has one argument: the window (int16 [L*3]).
"""

from __future__ import annotations

import struct

import numpy as np

from microbit_nn.export import features as feat
from microbit_nn.export import reference as ref
from microbit_nn.export.qmodel import QModel

_DT = {"b": "<i1", "h": "<i2", "i": "<i4"}


def _arr(code: str, values) -> bytes:
    a = np.asarray(values, dtype=np.int64).reshape(-1)
    return struct.pack("<BH", ord(code), a.size) + a.astype(_DT[code]).tobytes()


def _arg(a) -> bytes:
    return struct.pack("<Bi", ord("n"), int(a)) if np.isscalar(a) else _arr(*a)


def record(name: str, kernel: str, y_at: int, args, expected) -> bytes:
    """One test; `args` items are ints or (typecode, values); `expected` is (typecode, values).

    An empty `kernel` makes a whole-model test (args: one ("h", window))."""
    head = struct.pack("<BB", 1 if kernel else 2, len(name)) + name.encode("ascii")
    head += struct.pack("<B", len(kernel)) + kernel.encode("ascii") + struct.pack("<bB", y_at, len(args))
    return head + b"".join(_arg(a) for a in args) + _arr(*expected)


def _affine(rng, rows: np.ndarray, n_out: int):
    """Random int8 weights and (b, m, s) spreading the outputs for input `rows` over int8,
    within the small-int rule."""
    n_in = rows.shape[1]
    w = rng.integers(-127, 128, (n_out, n_in))
    b = rng.integers(-3000, 3000, n_out)
    acc = int(np.abs(rows @ w.T + b).max())
    bound = np.abs(b) + 128 * np.abs(w).sum(axis=1)
    m = np.minimum((90 << 20) // (acc + 1), ((1 << 30) - (1 << 19)) // bound - 1)
    return w, b, m, np.full(n_out, 20)


def kernel_records(rng: np.random.Generator, kernels) -> list[bytes]:
    """Tests of the named kernels (those not in the firmware's set are ignored)."""
    out = []
    ks = set(kernels)
    if "rq" in ks:
        cases = [(1 << 20, 255, 12, 0), (-(1 << 20), 200, 12, -128), (-(1 << 20), 200, 12, 0),
                 (5, 1, 1, -128), (-5, 1, 1, -128), ((1 << 22) - 1, 255, 30, -128)]
        for i, (a, m, s, lo) in enumerate(cases):
            out.append(record("rq%d" % i, "rq", -1, [a, m, s, lo], ("i", [int(ref.requant(a, m, s, lo == 0))])))
    for relu, n_out, n_in in ((True, 12, 20), (False, 5, 13)):
        if "dense" in ks:
            x = rng.integers(-128, 128, n_in)
            w, b, m, s = _affine(rng, x[None], n_out)
            lo = 0 if relu else -128
            out.append(record("dense" + "R" * relu, "dense", 5, [("b", x), ("b", w), ("i", b), ("i", m), ("i", s), lo],
                              ("b", ref.dense(x[None], w, b, m, s, relu)[0])))
    for relu, (L, ci, co, k, st, pd) in ((True, (17, 3, 4, 5, 2, 2)), (False, (9, 4, 3, 3, 1, 0))):
        if "conv" in ks:
            x = rng.integers(-128, 128, (L, ci))
            rows = np.lib.stride_tricks.sliding_window_view(x, (k, ci)).reshape(-1, k * ci)
            w, b, m, s = _affine(rng, rows, co)
            y = ref.conv1d(x[None], w.reshape(co, k, ci), b, m, s, st, pd, relu)[0]
            out.append(record("conv" + "R" * relu, "conv", 10, [("b", x), L, ci, ("b", w), k, st, pd, ("i", b),
                                                              ("i", m), ("i", s), 0 if relu else -128], ("b", y)))
    L, c = 11, 3
    x = rng.integers(-128, 128, (L, c))
    pools = {"mpool": (5, [L, c, 3, 2], ref.maxpool1d(x[None], 3, 2)),
             "apool": (7, [L, c, 2, 2, 1 << 14, 15], ref.avgpool1d(x[None], 2, 2, 1 << 14, 15)),
             "gap": (5, [L, c, 2979, 15], ref.global_avg_pool(x[None], 2979, 15)),
             "gmp": (3, [L, c], ref.global_max_pool(x[None]))}
    for name, (y_at, args, y) in pools.items():
        if name in ks:
            out.append(record(name, name, y_at, [("b", x)] + args, ("b", y[0])))
    if "amax" in ks:
        for i, y in enumerate(([3, -7, 9, 9, -128, 2], [-128, -128], [127])):
            out.append(record("amax%d" % i, "amax", -1, [("b", y)], ("i", [int(ref.argmax(np.array(y)))])))
    if "rawq" in ks:
        raw = np.concatenate([rng.integers(-2500, 2500, 28), [32767, -32768, 8, -8, 7, -9]])
        out.append(record("rawq", "rawq", 3, [("h", raw), len(raw), 4], ("b", ref.raw_input(raw, 4))))
    return out


def _windows(qm: QModel, rng: np.random.Generator, n: int) -> np.ndarray:
    """Gesture-like windows (a wobble plus a random walk), some past the +/-2048 clip."""
    t = np.arange(qm.window)[:, None]
    walk = rng.normal(0, 200, (n, qm.window, 3)).cumsum(axis=1)
    return np.clip(walk + 1200 * np.sin(t * 0.3 + np.arange(n)[:, None, None]), -2600, 2600).astype(np.int64)


def model_records(qm: QModel, rng: np.random.Generator, kernels, n_windows: int = 2) -> list[bytes]:
    """Tests of the model's input stage and confidence on its own tables, and the whole model."""
    out = []
    wins = _windows(qm, rng, n_windows)
    ks = set(kernels)
    if qm.kind == "mlp":
        f = feat.extract(wins[0])
        out.append(record("feats", "feats", 2, [("h", wins[0]), qm.window], ("i", f)))
        if "featq" in ks:
            fin = qm.input
            out.append(record("featq", "featq", 4, [("i", f), ("i", fin.offset), ("i", fin.mult), ("i", fin.shift)],
                              ("b", ref.feature_input(f[None], fin)[0])))
    logits = ref.run(qm, wins)
    e = qm.exp_table
    if "conf" in ks:
        sure = [0] * (len(qm.classes) - 1) + [100]
        for i, y in enumerate((logits[0], sure)):
            out.append(record("conf%d" % i, "conf", -1, [("b", y), ("h", e)], ("i", [int(ref.confidence(y, e))])))
    for i, w in enumerate(wins):
        out.append(record("model%d" % i, "", -1, [("h", w)], ("b", logits[i])))
    return out


def golden_file(qm: QModel, plan: dict, seed: int = 5) -> bytes:
    """The bytes of st.bin for `qm` and the device's kernels `plan` (writer.kernel_plan:
    {"engine": [...], "qk": [...]})."""
    rng = np.random.default_rng(seed)
    ks = set(plan.get("qk", []))
    # the engine runs the whole model in machine code: more windows through it
    n = 6 if plan.get("engine") else 2
    return b"".join(kernel_records(rng, ks) + model_records(qm, rng, ks, n_windows=n)) + b"\x00"


def random_affine(rng: np.random.Generator, shape: tuple, ratio: float) -> dict:
    """Random int8 weights of `shape` with their int32 bias and requantization (input
    scale 0.05, output scale 0.05 * ratio): the fields of a Dense or Conv1d."""
    from microbit_nn.export import quant

    w, sw = quant.quantize_weights(rng.normal(0, 0.3, shape))
    b = quant.quantize_bias(rng.normal(0, 0.1, shape[0]), 0.05, sw)
    m, s = quant.requant_affine(w, b, 0.05, sw, 0.05 * ratio)
    return dict(w=w, b=b, mult=m, shift=s)


def random_qmodel(kind: str = "mlp", seed: int = 0, n_classes: int = 4, window: int = 50, hidden: int = 16) -> QModel:
    """A valid QModel with random weights (the default cnn's layer types), for tests and
    `mbnn selftest --emulator` without a model."""
    from microbit_nn.export import quant
    from microbit_nn.export.qmodel import Conv1d, Dense, FeatureInput, GlobalMaxPool, RawInput

    rng = np.random.default_rng(seed)

    def affine(shape, ratio):
        return random_affine(rng, shape, ratio)

    if kind == "mlp":
        off, m, s = quant.feature_input_params(rng.integers(-300, 300, 24), 1 / 20.0)
        inp = FeatureInput(offset=off, mult=m, shift=s)
        layers = [Dense(relu=True, **affine((hidden, 24), 2.0)), Dense(relu=False, **affine((n_classes, hidden), 0.5))]
    else:
        inp = RawInput(shift=4)
        layers = [Conv1d(stride=2, pad=2, relu=True, **affine((8, 5, 3), 3.0)),
                  Conv1d(stride=2, pad=2, relu=True, **affine((hidden, 5, 8), 0.7)),
                  GlobalMaxPool(), Dense(relu=False, **affine((n_classes, hidden), 0.2))]
    return QModel(kind=kind, classes=["c%d" % i for i in range(n_classes)], window=window, period_ms=20,
                  input=inp, layers=layers, out_scale=0.1, exp_table=quant.make_exp_table(0.1), threshold=50,
                  icons=["HAPPY"] * n_classes, meta={"random": seed})

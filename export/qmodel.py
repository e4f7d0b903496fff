"""The quantized model: small dataclasses per layer and a deterministic JSON file.

A `QModel` is everything the device needs: the input quantizer, the integer
layers, and the output calibration (exp table, "unknown" threshold). The JSON
file (`model_int8.json`) is byte-identical for identical models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np

from microbit_nn.errors import MbnnError

INT8_FILE = "model_int8.json"
FORMAT = 1
N_FEATURES = 24


def _arr(v, dtype, lo: int, hi: int, what: str) -> np.ndarray:
    a = np.asarray(v)
    if a.size and (not np.issubdtype(a.dtype, np.number) or a.min() < lo or a.max() > hi
                   or not np.array_equal(a, np.round(a))):
        raise MbnnError(f"{what}: values must be integers in [{lo}, {hi}]; re-export the model")
    return a.astype(dtype)


def _i32(v, what: str) -> np.ndarray:
    return _arr(v, np.int32, -(1 << 31), (1 << 31) - 1, what)


@dataclass(eq=False)
class RawInput:
    """cnn input: int16 milli-g -> int8 clamp((v + 2**(shift-1)) >> shift)."""

    shift: int


@dataclass(eq=False)
class FeatureInput:
    """mlp input: 24 integer features -> int8 clamp(((f - off) * m + 2**(s-1)) >> s)."""

    offset: list[int]
    mult: list[int]
    shift: list[int]


@dataclass(eq=False)
class Dense:
    """y = requant(b + W x); w int8 [out, in], b/mult/shift int32 [out]."""

    w: np.ndarray
    b: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    relu: bool

    def __post_init__(self):
        self.w = _arr(self.w, np.int8, -128, 127, "dense weights")
        self.b, self.mult, self.shift = (_i32(v, "dense " + n) for v, n in
                                         ((self.b, "bias"), (self.mult, "mult"), (self.shift, "shift")))


@dataclass(eq=False)
class Conv1d:
    """Time-major 1-D convolution; w int8 [out, k, cin], zero padding `pad` each side."""

    w: np.ndarray
    b: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    stride: int
    pad: int
    relu: bool

    def __post_init__(self):
        self.w = _arr(self.w, np.int8, -128, 127, "conv1d weights")
        self.b, self.mult, self.shift = (_i32(v, "conv1d " + n) for v, n in
                                         ((self.b, "bias"), (self.mult, "mult"), (self.shift, "shift")))


@dataclass(eq=False)
class MaxPool1d:
    """Max over windows of k steps, every `stride` steps (no padding)."""

    k: int
    stride: int


@dataclass(eq=False)
class AvgPool1d:
    """Sum over windows of k steps, requantized by (mult, shift) ~ 1/k."""

    k: int
    stride: int
    mult: int
    shift: int


@dataclass(eq=False)
class GlobalAvgPool:
    """Sum over all steps per channel, requantized by (mult, shift) ~ 1/L."""

    mult: int
    shift: int


@dataclass(eq=False)
class GlobalMaxPool:
    """Max over all steps per channel."""


Layer = Union[Dense, Conv1d, MaxPool1d, AvgPool1d, GlobalAvgPool, GlobalMaxPool]
_TYPES = {"dense": Dense, "conv1d": Conv1d, "maxpool1d": MaxPool1d, "avgpool1d": AvgPool1d,
          "globalavgpool": GlobalAvgPool, "globalmaxpool": GlobalMaxPool}
_NAMES = {cls: name for name, cls in _TYPES.items()}
_ARRAYS = ("w", "b", "mult", "shift")


def layer_name(layer) -> str:
    """The JSON type name of a layer ("dense", "conv1d", ...)."""
    return _NAMES[type(layer)]


def _layer_to_json(layer) -> dict:
    d = {"type": layer_name(layer)}
    for k, v in vars(layer).items():
        d[k] = v.tolist() if isinstance(v, np.ndarray) else (bool(v) if isinstance(v, (bool, np.bool_)) else int(v))
    return d


def _layer_from_json(d: dict, where: str):
    cls = _TYPES.get(d.get("type"))
    if cls is None:
        raise MbnnError(f"{where}: unknown layer type {d.get('type')!r}; re-export the model")
    args = dict(d)
    del args["type"]
    try:
        return cls(**args)
    except TypeError as e:
        raise MbnnError(f"{where}: bad fields ({e}); re-export the model") from None


@dataclass(eq=False)
class QModel:
    """The whole integer model the device runs (see DEVELOPERS.md for the scheme)."""

    kind: str
    classes: list[str]
    window: int
    period_ms: int
    input: Union[RawInput, FeatureInput]
    layers: list
    out_scale: float
    exp_table: list[int]
    threshold: int
    icons: list[str]
    meta: dict = field(default_factory=dict)
    target: str = "v1"  # the board it was trained for ("v2": may not fit a V1); "v1" in files without it

    # ---- serialization -------------------------------------------------
    def to_json(self) -> str:
        """Deterministic JSON text (sorted keys, integer arrays as nested lists)."""
        inp = ({"type": "raw", "shift": int(self.input.shift)} if isinstance(self.input, RawInput) else
               {"type": "features", "offset": [int(v) for v in self.input.offset],
                "mult": [int(v) for v in self.input.mult], "shift": [int(v) for v in self.input.shift]})
        doc = {"format": FORMAT, "kind": self.kind, "classes": list(self.classes), "window": int(self.window),
               "period_ms": int(self.period_ms), "input": inp, "layers": [_layer_to_json(l) for l in self.layers],
               "out_scale": float(self.out_scale), "exp_table": [int(v) for v in self.exp_table],
               "threshold": int(self.threshold), "icons": list(self.icons), "meta": self.meta,
               "target": self.target}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"

    def save(self, path) -> None:
        """Validate, then write the JSON file."""
        self.validate()
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def from_json(cls, text: str, where: str = "model") -> "QModel":
        """Parse and validate; raises MbnnError naming the problem."""
        try:
            doc = json.loads(text)
            inp = doc["input"]
            qin = (RawInput(shift=int(inp["shift"])) if inp["type"] == "raw" else
                   FeatureInput(offset=list(inp["offset"]), mult=list(inp["mult"]), shift=list(inp["shift"])))
            layers = [_layer_from_json(d, f"{where}: layer {i}") for i, d in enumerate(doc["layers"])]
            qm = cls(kind=doc["kind"], classes=list(doc["classes"]), window=int(doc["window"]),
                     period_ms=int(doc["period_ms"]), input=qin, layers=layers, out_scale=float(doc["out_scale"]),
                     exp_table=list(doc["exp_table"]), threshold=int(doc["threshold"]), icons=list(doc["icons"]),
                     meta=dict(doc.get("meta", {})), target=str(doc.get("target", "v1")))
        except MbnnError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise MbnnError(f"{where} is not a valid int8 model file ({type(e).__name__}: {e}); re-run 'mbnn train'") from None
        qm.validate(where)
        return qm

    @classmethod
    def load(cls, path) -> "QModel":
        """Read a model_int8.json file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise MbnnError(f"cannot read {path}: {e.strerror}; give the file 'mbnn train --out' wrote") from None
        return cls.from_json(text, str(path))

    # ---- checks and figures ---------------------------------------------
    def validate(self, where: str = "model") -> None:
        """Check shapes, ranges and the small-int rule; MbnnError names the layer."""
        _validate(self, where)

    def activation_shapes(self) -> list[tuple[int, ...]]:
        """Shape of the input activation and of each layer's output ((L, C) or (F,))."""
        return _walk(self, "model")[0]

    def activation_sizes(self) -> list[int]:
        """Element count (= int8 bytes) of the input activation and each layer output."""
        return [int(np.prod(s)) for s in self.activation_shapes()]

    def macs(self) -> int:
        """Multiply-accumulates per inference (padding taps are skipped, as on the device)."""
        return _walk(self, "model")[1]

    def param_count(self) -> int:
        """Weights plus biases."""
        return sum(l.w.size + l.b.size for l in self.layers if isinstance(l, (Dense, Conv1d)))

    def weight_bytes(self) -> int:
        """Bytes of the tables on the device: 1 per weight, 4 per bias, mult and shift."""
        return sum(l.w.size + 4 * (l.b.size + l.mult.size + l.shift.size)
                   for l in self.layers if isinstance(l, (Dense, Conv1d)))


def _need(ok: bool, where: str, msg: str) -> None:
    if not ok:
        raise MbnnError(f"{where}: {msg}; re-export the model")


def _requant_ok(bound: int, m: int, s: int) -> bool:
    """The small-int rule for one channel: bound * m + 2**(s-1) < 2**30."""
    return 1 <= s <= 30 and 0 <= m < (1 << 30) and bound * m + (1 << (s - 1)) < (1 << 30)


def _affine_check(l, n_in: int, where: str) -> None:
    out = l.w.shape[0]
    _need(l.b.shape == l.mult.shape == l.shift.shape == (out,), where, f"bias/mult/shift must have {out} entries")
    bound = np.abs(l.b.astype(np.int64)) + 128 * np.abs(l.w.astype(np.int64)).reshape(out, -1).sum(axis=1)
    for c in range(out):
        _need(_requant_ok(int(bound[c]), int(l.mult[c]), int(l.shift[c])), where,
              f"channel {c} breaks the small-int rule (|acc| <= {bound[c]}, m={l.mult[c]}, s={l.shift[c]})")


def _walk(qm: "QModel", where: str) -> tuple[list[tuple[int, ...]], int]:
    """Activation shapes ((L, C) sequences, (F,) vectors) and MACs, checking each layer."""
    if isinstance(qm.input, RawInput):
        _need(1 <= qm.input.shift <= 15, f"{where}: input", "raw shift must be in 1..15")
        shape: tuple[int, ...] = (qm.window, 3)
    else:
        f = qm.input
        _need(len(f.offset) == len(f.mult) == len(f.shift) == N_FEATURES, f"{where}: input",
              f"feature quantizer needs {N_FEATURES} offsets, mults and shifts")
        for i in range(N_FEATURES):
            _need(_requant_ok(2048 + abs(int(f.offset[i])), int(f.mult[i]), int(f.shift[i])), f"{where}: input",
                  f"feature {i} breaks the small-int rule")
        shape = (N_FEATURES,)
    shapes, macs = [shape], 0
    for i, l in enumerate(qm.layers):
        w = f"{where}: layer {i} ({_NAMES.get(type(l), type(l).__name__)})"
        _need(type(l) in _NAMES, w, "unknown layer type")
        n = int(np.prod(shape))
        if isinstance(l, Dense):
            _need(l.w.ndim == 2 and l.w.shape[1] == n, w, f"weights must be [out, {n}], got {list(l.w.shape)}")
            _affine_check(l, n, w)
            shape, macs = (l.w.shape[0],), macs + l.w.size
        elif isinstance(l, GlobalAvgPool) or isinstance(l, GlobalMaxPool):
            _need(len(shape) == 2, w, "needs a sequence input")
            if isinstance(l, GlobalAvgPool):
                _need(_requant_ok(128 * shape[0], l.mult, l.shift), w, "mult/shift break the small-int rule")
            shape = (shape[1],)
        else:
            _need(len(shape) == 2, w, "needs a sequence input (conv/pool after a dense layer)")
            L, c = shape
            if isinstance(l, Conv1d):
                _need(l.w.ndim == 3 and l.w.shape[2] == c, w, f"weights must be [out, k, {c}], got {list(l.w.shape)}")
                k, st, pd = l.w.shape[1], l.stride, l.pad
                _need(st >= 1 and pd >= 0 and k >= 1, w, "stride >= 1, pad >= 0 and kernel >= 1 required")
                _affine_check(l, k * c, w)
                lo = (L + 2 * pd - k) // st + 1
                taps = sum(max(0, min(k, L - t * st + pd) - max(0, pd - t * st)) for t in range(max(lo, 0)))
                macs += taps * c * l.w.shape[0]
                shape = (lo, l.w.shape[0])
            else:
                k, st = l.k, l.stride
                _need(k >= 1 and st >= 1, w, "k >= 1 and stride >= 1 required")
                if isinstance(l, AvgPool1d):
                    _need(_requant_ok(128 * k, l.mult, l.shift), w, "mult/shift break the small-int rule")
                shape = ((L - k) // st + 1, c)
        _need(min(shape) >= 1, w, f"output shape {shape} is empty (input too short)")
        shapes.append(shape)
    return shapes, macs


def _validate(qm: "QModel", where: str) -> None:
    _need(qm.kind in ("mlp", "cnn"), where, f"kind must be mlp or cnn, not {qm.kind!r}")
    _need(qm.window >= 1 and qm.window <= 255, where, "window must be 1..255 samples")
    _need(len(qm.classes) >= 1 and len(qm.icons) == len(qm.classes), where, "need one icon per class")
    shapes, _ = _walk(qm, where)
    _need(shapes[-1] == (len(qm.classes),), where,
          f"last layer gives {shapes[-1]} outputs for {len(qm.classes)} classes")
    _need(len(qm.layers) >= 1 and isinstance(qm.layers[-1], Dense), where, "the last layer must be dense")
    e = qm.exp_table
    _need(1 <= len(e) <= 256 and e[0] == 256 and all(0 < v <= 256 for v in e), where,
          "exp table must start at 256 and hold 1..256 positive entries")
    _need(0 <= qm.threshold <= 100, where, "threshold is a percent 0..100")
    _need(qm.target in ("v1", "v2"), where, f"target must be v1 or v2, not {qm.target!r}")


def load_model(path_or_dir) -> QModel:
    """Load a QModel from a model_int8.json file or a directory holding one."""
    p = Path(path_or_dir)
    if p.is_dir():
        p = p / INT8_FILE
    if not p.is_file():
        raise MbnnError(f"no int8 model at {p}: run 'mbnn train --out DIR' first and pass DIR")
    return QModel.load(p)

"""The call plan: a QModel as the kernel calls the device makes, one typed record each.

Call i reads the output of call i-1 (call 0 reads the window: int16 milli-g,
time-major [W, 3]) and writes `n_out` items of type `out_code`. Every field
has a name; the integer tables are numpy int64 arrays. Consumers pick their
own encodings: export/writer.py writes model.py for the Python kernels
(firmware/qk.py, ft.py), export/engine.py call records for the machine code,
export/budget.py counts buffers, export/goldens.py the selftest.

`QK_ARGS` is the one place that says in which order firmware/qk.py (and
ft.py) take a call's fields: "x" and "y" are the input and output buffers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from microbit_nn.errors import MbnnError
from microbit_nn.export.qmodel import (N_FEATURES, AvgPool1d, Conv1d, Dense, FeatureInput, GlobalAvgPool,
                                       GlobalMaxPool, MaxPool1d, QModel)


ITEM_BYTES = {"b": 1, "h": 2, "i": 4}  # bytes per item of each array typecode


def _ints(v) -> np.ndarray:
    return np.asarray(v, dtype=np.int64).reshape(-1)


@dataclass(frozen=True, eq=False)
class Call:
    """A kernel call: its output size (items) and, per subclass, its parameters."""

    kernel: ClassVar[str]
    out_code: ClassVar[str] = "b"  # typecode of the output buffer
    QK_ARGS: ClassVar[tuple[str, ...]]
    n_out: int

    def qk_args(self) -> list:
        """The call's arguments in firmware/qk.py's order ("x"/"y": the buffers)."""
        return [name if name in ("x", "y") else getattr(self, name) for name in self.QK_ARGS]


@dataclass(frozen=True, eq=False)
class Features(Call):
    """24 integer features of the window (ft.feats / the engine's features routine)."""

    kernel: ClassVar[str] = "feats"
    out_code: ClassVar[str] = "i"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "window", "y")
    window: int


@dataclass(frozen=True, eq=False)
class FeatureQuant(Call):
    """Features -> int8: clamp(rq(f - offset, mult, shift), -128, 127) per feature."""

    kernel: ClassVar[str] = "featq"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "offset", "mult", "shift", "y")
    offset: np.ndarray
    mult: np.ndarray
    shift: np.ndarray


@dataclass(frozen=True, eq=False)
class RawQuant(Call):
    """Window (int16) -> int8: clamp(rq(v, 1, shift), -128, 127) per value."""

    kernel: ClassVar[str] = "rawq"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "n_in", "shift", "y")
    n_in: int
    shift: int


@dataclass(frozen=True, eq=False)
class _Affine(Call):
    """Weights, int32 bias and per-channel requantization; ReLU fused or not."""

    weights: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    relu: bool

    @property
    def lo(self) -> int:
        """The lower clamp: 0 with a fused ReLU, else -128."""
        return 0 if self.relu else -128


@dataclass(frozen=True, eq=False)
class DenseCall(_Affine):
    """y[o] = rq(bias[o] + sum_i x[i] * weights[o, i]) for o < n_out."""

    kernel: ClassVar[str] = "dense"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "weights", "bias", "mult", "shift", "y", "lo")
    n_in: int = 0


@dataclass(frozen=True, eq=False)
class ConvCall(_Affine):
    """1-D convolution over `length` steps of `channels_in` (time-major), zero padding."""

    kernel: ClassVar[str] = "conv"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "length", "channels_in", "weights", "size", "stride", "pad",
                                          "bias", "mult", "shift", "y", "lo")
    length: int = 0
    channels_in: int = 0
    size: int = 0
    stride: int = 1
    pad: int = 0

    @property
    def channels_out(self) -> int:
        return len(self.bias)

    @property
    def length_out(self) -> int:
        return (self.length + 2 * self.pad - self.size) // self.stride + 1


@dataclass(frozen=True, eq=False)
class MaxPool(Call):
    """Max over windows of `size` steps, `stride` apart, per channel."""

    kernel: ClassVar[str] = "mpool"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "length", "channels", "size", "stride", "y")
    length: int
    channels: int
    size: int
    stride: int

    @property
    def windows(self) -> int:
        return len(range(0, (self.length - self.size) // self.stride * self.stride + 1, self.stride))


@dataclass(frozen=True, eq=False)
class AvgPool(MaxPool):
    """Requantized sum over windows of `size` steps, `stride` apart, per channel."""

    kernel: ClassVar[str] = "apool"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "length", "channels", "size", "stride", "mult", "shift", "y")
    mult: int = 0
    shift: int = 1


@dataclass(frozen=True, eq=False)
class GlobalMaxPoolCall(Call):
    """Max over all `length` steps, per channel."""

    kernel: ClassVar[str] = "gmp"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "length", "channels", "y")
    length: int
    channels: int


@dataclass(frozen=True, eq=False)
class GlobalAvgPoolCall(GlobalMaxPoolCall):
    """Requantized sum over all `length` steps, per channel."""

    kernel: ClassVar[str] = "gap"
    QK_ARGS: ClassVar[tuple[str, ...]] = ("x", "length", "channels", "mult", "shift", "y")
    mult: int = 0
    shift: int = 1


# kernels told their output size explicitly (not by len(y)), so their output
# may be a bigger buffer shared with other calls: firmware/lo.py shares them
SIZED_BY_ARGUMENT = ("rawq", "conv", "mpool", "apool", "gap", "gmp")


def calls(qm: QModel) -> list[Call]:
    """The kernel calls of `qm`, input stage first. MbnnError for a layer no kernel runs."""
    shapes, sizes = qm.activation_shapes(), qm.activation_sizes()
    if isinstance(qm.input, FeatureInput):
        f = qm.input
        out: list[Call] = [Features(n_out=N_FEATURES, window=qm.window),
                           FeatureQuant(n_out=N_FEATURES, offset=_ints(f.offset), mult=_ints(f.mult),
                                        shift=_ints(f.shift))]
    else:
        out = [RawQuant(n_out=3 * qm.window, n_in=3 * qm.window, shift=int(qm.input.shift))]
    for i, layer in enumerate(qm.layers):
        n = sizes[i + 1]
        length, ch = shapes[i] if len(shapes[i]) == 2 else (0, 0)
        if isinstance(layer, (Dense, Conv1d)):
            affine = dict(n_out=n, weights=_ints(layer.w), bias=_ints(layer.b), mult=_ints(layer.mult),
                          shift=_ints(layer.shift), relu=bool(layer.relu))
            if isinstance(layer, Dense):
                out.append(DenseCall(n_in=sizes[i], **affine))
            else:
                out.append(ConvCall(length=length, channels_in=ch, size=layer.w.shape[1], stride=layer.stride,
                                    pad=layer.pad, **affine))
        elif isinstance(layer, AvgPool1d):
            out.append(AvgPool(n_out=n, length=length, channels=ch, size=layer.k, stride=layer.stride,
                               mult=int(layer.mult), shift=int(layer.shift)))
        elif isinstance(layer, MaxPool1d):
            out.append(MaxPool(n_out=n, length=length, channels=ch, size=layer.k, stride=layer.stride))
        elif isinstance(layer, GlobalAvgPool):
            out.append(GlobalAvgPoolCall(n_out=n, length=length, channels=ch, mult=int(layer.mult),
                                         shift=int(layer.shift)))
        elif isinstance(layer, GlobalMaxPool):
            out.append(GlobalMaxPoolCall(n_out=n, length=length, channels=ch))
        else:
            raise MbnnError("cannot export layer %s: re-train with an mlp or cnn model" % type(layer).__name__)
    return out


def kernels(qm: QModel) -> list[str]:
    """The kernel names of `qm`'s calls, in order."""
    return [c.kernel for c in calls(qm)]

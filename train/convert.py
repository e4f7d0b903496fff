"""A trained (and calibrated) PyTorch model -> the integer QModel the device runs."""

from __future__ import annotations

import numpy as np

from microbit_nn.export import quant
from microbit_nn.export.qmodel import (
    Conv1d,
    Dense,
    FeatureInput,
    GlobalAvgPool,
    GlobalMaxPool,
    QModel,
    RawInput,
)
from microbit_nn.train.inputs import FeatureNorm
from microbit_nn.train.models import CNN, MLP, RAW_SHIFT, QuantNet

def _affine(weight: np.ndarray, bias: np.ndarray, s_in: float, s_out: float):
    """int8 weights (per output channel), int32 bias, and per-channel (m, s)."""
    wq, sw, bq = quant.quantize_layer(weight, bias, s_in)
    m, s = quant.requant_affine(wq, bq, s_in, sw, s_out)
    return wq, bq, m, s


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def feature_input(norm: FeatureNorm, input_scale: float) -> FeatureInput:
    """Integer quantizer: int8 = round((f - offset) / (spread * input_scale))."""
    off, m, s = quant.feature_input_params(norm.offset, 1.0 / (norm.spread * input_scale))
    return FeatureInput(offset=off, mult=m, shift=s)


def to_qmodel(model: QuantNet, classes: list[str], window: int, period_ms: int,
              norm: FeatureNorm | None, threshold: int = 80, icons: list[str] | None = None,
              meta: dict | None = None) -> QModel:
    """Convert a calibrated model (its act_scale buffers set) to a QModel."""
    act = [float(v) for v in model.act_scale]
    layers: list = []
    if isinstance(model, MLP):
        assert norm is not None
        inp = feature_input(norm, model.input_scale)
        w, b, m, s = _affine(_np(model.fc1.weight), _np(model.fc1.bias), model.input_scale, act[0])
        layers.append(Dense(w=w, b=b, mult=m, shift=s, relu=True))
        w, b, m, s = _affine(_np(model.fc2.weight), _np(model.fc2.bias), act[0], act[1])
        layers.append(Dense(w=w, b=b, mult=m, shift=s, relu=False))
    elif isinstance(model, CNN):
        inp = RawInput(shift=RAW_SHIFT)
        length = window
        s_in = model.input_scale
        for i, conv in enumerate((model.conv1, model.conv2)):
            w, b, m, s = _affine(_np(conv.weight).transpose(0, 2, 1), _np(conv.bias), s_in, act[i])
            layers.append(Conv1d(w=w, b=b, mult=m, shift=s, stride=model.stride, pad=model.pad, relu=True))
            length = (length + 2 * model.pad - model.kernel) // model.stride + 1
            s_in = act[i]
        if model.pool == "max":
            layers.append(GlobalMaxPool())
        else:
            gm, gs = quant.choose_requant(1.0 / length, 128 * length)
            layers.append(GlobalAvgPool(mult=int(gm), shift=int(gs)))
        w, b, m, s = _affine(_np(model.fc.weight), _np(model.fc.bias), s_in, act[2])
        layers.append(Dense(w=w, b=b, mult=m, shift=s, relu=False))
    else:
        raise TypeError(f"cannot convert {type(model).__name__}")
    return QModel(
        kind=model.kind, classes=list(classes), window=window, period_ms=period_ms, input=inp,
        layers=layers, out_scale=act[-1], exp_table=quant.make_exp_table(act[-1]),
        threshold=int(threshold), icons=list(icons or default_icons(classes)), meta=dict(meta or {}),
    )


# LED images the device shows per class; names are microbit.Image attributes,
# a single character is scrolled/shown as a letter.
_KNOWN_ICONS = {
    "shake": "CHESSBOARD", "still": "ASLEEP", "circle": "DIAMOND", "flick": "ARROW_E",
    "poke": "ARROW_E", "tilt": "ARROW_S", "wave": "HAPPY", "clap": "HEART",
}


def default_icons(classes: list[str]) -> list[str]:
    """An LED image per class: a fitting micro:bit icon when a word of the name is known
    ('Being still' -> ASLEEP), else its first ASCII letter or digit ('?' if none)."""
    icons = []
    for name in classes:
        words = [w for w in "".join(c if c.isalnum() else " " for c in name.lower()).split()]
        icon = next((_KNOWN_ICONS[w] for w in [name.lower()] + words if w in _KNOWN_ICONS), None)
        letter = next((c.upper() for c in name if c.isascii() and c.isalnum()), "?")
        icons.append(icon if icon and icon not in icons else letter)
    return icons

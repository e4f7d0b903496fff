"""The two model families, written so that their float forward pass can switch
to fake-quantization that mirrors the integer scheme (docs/quantization.md).

Both models take a float tensor already in "input units":
- `mlp`: standardized integer features z = (f - offset) / std, shape [N, 24];
- `cnn`: milli-g / 2048 (so +/-1 is the +/-2 g range), time-major [N, L, 3].
The input quantization step of each (`input_scale`) is fixed by the integer
input stage, so fake-quantizing the input reproduces the device's rounding.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

RAW_SHIFT = 4  # cnn input: int8 = round(milli-g / 16), i.e. 16 mg per step, +/-2 g in range
RAW_UNIT = 2048.0  # cnn input = milli-g / 2048: powers of two keep fake-quant rounding exact
RAW_SCALE = (1 << RAW_SHIFT) / RAW_UNIT  # one int8 step in input units
FEATURE_SCALE = 4.0 / 127  # mlp input: +/-4 standard deviations in int8


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """Round like the integer requantization does: floor(x + 0.5)."""
    return torch.floor(x + 0.5)


def fake_quant(x: torch.Tensor, scale: torch.Tensor | float, lo: int, hi: int) -> torch.Tensor:
    """Quantize-dequantize with a straight-through gradient."""
    q = torch.clamp(round_half_up(x / scale), lo, hi) * scale
    return x + (q - x).detach()


def weight_scales(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric int8 scales (axis 0), never zero."""
    amax = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    return torch.clamp(amax, min=1e-8) / 127.0


def fake_quant_weight(w: torch.Tensor) -> torch.Tensor:
    """Per-channel int8 fake-quantization of a weight tensor."""
    shape = (-1,) + (1,) * (w.dim() - 1)
    return fake_quant(w, weight_scales(w).reshape(shape), -127, 127)


class QuantNet(nn.Module):
    """Shared machinery: activation scales as buffers, a quantization switch,
    and calibration of the scales from observed ranges."""

    kind = ""

    def __init__(self, n_act: int, input_scale: float):
        super().__init__()
        self.input_scale = input_scale
        self.register_buffer("act_scale", torch.ones(n_act))
        self.quantized = False
        self._observe: list[torch.Tensor] | None = None

    def act(self, x: torch.Tensor, i: int, relu: bool) -> torch.Tensor:
        """Activation point i: record its range when calibrating, fake-quantize when quantized."""
        if self._observe is not None:
            self._observe[i] = torch.maximum(self._observe[i], x.detach().abs().max())
        if self.quantized:
            return fake_quant(x, self.act_scale[i], 0 if relu else -128, 127)
        return x

    def qin(self, x: torch.Tensor) -> torch.Tensor:
        return fake_quant(x, self.input_scale, -128, 127) if self.quantized else x

    def w(self, layer: nn.Module) -> torch.Tensor:
        return fake_quant_weight(layer.weight) if self.quantized else layer.weight

    @torch.no_grad()
    def calibrate(self, batches) -> None:
        """Set every activation scale to max|x| / 127 over the given input batches."""
        was = self.quantized
        self.quantized = False
        self._observe = [torch.zeros(()) for _ in range(len(self.act_scale))]
        for x in batches:
            self(x)
        self.act_scale.copy_(torch.clamp(torch.stack(self._observe), min=1e-6) / 127.0)
        self._observe = None
        self.quantized = was


class MLP(QuantNet):
    """features -> dense -> relu -> dense (logits)."""

    kind = "mlp"

    def __init__(self, n_classes: int, n_features: int = 24, hidden: int = 24):
        super().__init__(n_act=2, input_scale=FEATURE_SCALE)
        self.fc1 = nn.Linear(n_features, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)
        self.dropout = nn.Dropout(0.1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.qin(z)
        h = self.act(F.relu(F.linear(x, self.w(self.fc1), self.fc1.bias)), 0, relu=True)
        h = self.dropout(h)
        return self.act(F.linear(h, self.w(self.fc2), self.fc2.bias), 1, relu=False)


class CNN(QuantNet):
    """raw window -> conv1d -> relu -> conv1d -> relu -> global pooling (max by default) -> dense."""

    kind = "cnn"

    def __init__(self, n_classes: int, channels: tuple[int, int] = (8, 16), kernel: int = 5, stride: int = 2,
                 pool: str = "max"):
        super().__init__(n_act=3, input_scale=RAW_SCALE)
        self.pool = pool
        c1, c2 = channels
        self.kernel, self.stride, self.pad = kernel, stride, kernel // 2
        self.conv1 = nn.Conv1d(3, c1, kernel, stride, self.pad)
        self.conv2 = nn.Conv1d(c1, c2, kernel, stride, self.pad)
        self.fc = nn.Linear(c2, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.qin(x).transpose(1, 2)  # [N, 3, L] for torch's conv1d
        h = self.act(F.relu(F.conv1d(x, self.w(self.conv1), self.conv1.bias, self.stride, self.pad)), 0, True)
        h = self.act(F.relu(F.conv1d(h, self.w(self.conv2), self.conv2.bias, self.stride, self.pad)), 1, True)
        # The device averages with the same scale in and out (requantized by ~1/L).
        if self.pool == "max":  # exact in integers: no requantization
            g = h.amax(dim=2)
        else:
            g = h.mean(dim=2)
        if self.quantized and self.pool != "max":
            g = fake_quant(g, self.act_scale[1], 0, 127)
        return self.act(F.linear(g, self.w(self.fc), self.fc.bias), 2, relu=False)


DEFAULT_HIDDEN = {"mlp": 24, "cnn": 16}  # the V1-sized defaults
DEFAULT_WIDTH = 8  # cnn: channels of the first conv


def build_model(kind: str, n_classes: int, hidden: int | None = None, width: int | None = None) -> QuantNet:
    """A fresh model of the named family: `hidden` is the mlp's hidden units or the
    cnn's second conv channels, `width` the cnn's first conv channels (None: defaults)."""
    if kind == "mlp":
        return MLP(n_classes, hidden=hidden or DEFAULT_HIDDEN["mlp"])
    if kind == "cnn":
        return CNN(n_classes, channels=(width or DEFAULT_WIDTH, hidden or DEFAULT_HIDDEN["cnn"]))
    raise ValueError(f"unknown model kind {kind!r}: use mlp or cnn")

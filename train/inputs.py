"""From int16 milli-g windows to the float tensors each model family trains on.

The mlp sees the same integer features the device computes (export/features.py),
standardized by a per-feature integer offset and float spread that become the
device's integer input quantizer. The cnn sees the raw window scaled to +/-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from microbit_nn.export import features as int_features
from microbit_nn.train.models import RAW_UNIT


@dataclass
class FeatureNorm:
    """Per-feature integer offset and float spread fitted on training data."""

    offset: np.ndarray  # int64 [F]
    spread: np.ndarray  # float64 [F], > 0

    @classmethod
    def fit(cls, feats: np.ndarray) -> "FeatureNorm":
        offset = np.round(feats.mean(axis=0)).astype(np.int64)
        spread = feats.std(axis=0)
        # A constant feature (e.g. peaks on very smooth data) must not divide by zero.
        spread = np.where(spread < 1.0, 1.0, spread)
        return cls(offset=offset, spread=spread)

    def apply(self, feats: np.ndarray) -> np.ndarray:
        return (feats - self.offset) / self.spread


def window_features(windows: np.ndarray) -> np.ndarray:
    """The 24 integer features of each window (int64 [N, 24])."""
    return np.asarray(int_features.extract(windows), dtype=np.int64)


def to_tensor(kind: str, windows: np.ndarray, norm: FeatureNorm | None) -> torch.Tensor:
    """The model input for int16 windows [N, L, 3]."""
    if kind == "mlp":
        assert norm is not None, "the mlp needs a FeatureNorm"
        return torch.tensor(norm.apply(window_features(windows)), dtype=torch.float32)
    return torch.tensor(windows.astype(np.float32) / RAW_UNIT)

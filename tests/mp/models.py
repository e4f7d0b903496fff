"""The models the V2 checks build: random weights, `mbnn train`'s default sizes."""

from __future__ import annotations

from microbit_nn.export import goldens
from microbit_nn.export.qmodel import QModel


def default_size(kind: str) -> int:
    """The hidden size of `mbnn train`'s default model of `kind` (train/models.py)."""
    from microbit_nn.train.models import build_model

    net = build_model(kind, 4)
    return net.fc1.out_features if kind == "mlp" else net.conv2.out_channels


def default_qmodel(kind: str, seed: int = 7) -> QModel:
    """A random QModel with the default architecture of `kind` (mlp or cnn)."""
    return goldens.random_qmodel(kind, seed=seed, hidden=default_size(kind))

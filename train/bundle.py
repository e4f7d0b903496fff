"""The model directory `mbnn train --out` writes, and loading it back.

DIR/model_float.pt   the float PyTorch model (state dict + what rebuilds it)
DIR/model_int8.json  the quantized model (the one file the exporter reads)
DIR/report.json, report.md, *.png   the training report
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from microbit_nn.errors import MbnnError
from microbit_nn.export.qmodel import QModel, load_model
from microbit_nn.train.inputs import FeatureNorm, to_tensor
from microbit_nn.train.models import QuantNet, build_model

FLOAT_FILE = "model_float.pt"
INT8_FILE = "model_int8.json"


@dataclass
class FloatModel:
    """A float model with what it needs to turn windows into its inputs."""

    model: QuantNet
    norm: FeatureNorm | None
    classes: list[str]

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """Float logits [N, classes] for int16 windows [N, L, 3]."""
        self.model.eval()
        with torch.no_grad():
            return self.model(to_tensor(self.model.kind, windows, self.norm)).numpy()


def save_float(path: Path, fm: FloatModel, hidden: int | None, width: int | None = None) -> None:
    """Write the float model file (`hidden`, `width`: as build_model takes them)."""
    torch.save({
        "kind": fm.model.kind, "hidden": hidden, "width": width, "classes": fm.classes,
        "state_dict": fm.model.state_dict(),
        "norm": None if fm.norm is None else {"offset": fm.norm.offset.tolist(), "spread": fm.norm.spread.tolist()},
    }, path)


def load_float(path: str | Path) -> FloatModel:
    """Read a float model from its file or from a model directory."""
    path = Path(path)
    if path.is_dir():
        path = path / FLOAT_FILE
    if not path.is_file():
        raise MbnnError(f"no float model at {path}: pass the directory that 'mbnn train --out' wrote")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(blob["kind"], len(blob["classes"]), blob["hidden"], blob.get("width"))
        model.load_state_dict(blob["state_dict"])
    except (KeyError, RuntimeError, EOFError, ValueError) as exc:
        raise MbnnError(f"{path} is not a microbit-nn float model ({exc}); retrain with 'mbnn train'") from exc
    norm = blob["norm"]
    norm = None if norm is None else FeatureNorm(np.array(norm["offset"], np.int64), np.array(norm["spread"]))
    return FloatModel(model=model, norm=norm, classes=list(blob["classes"]))


def load_bundle(path: str | Path) -> tuple[FloatModel | None, QModel]:
    """The float model (None when only an int8 file was given) and the QModel."""
    path = Path(path)
    qm = load_model(path)
    fm = load_float(path) if (path.is_dir() and (path / FLOAT_FILE).is_file()) else None
    return fm, qm

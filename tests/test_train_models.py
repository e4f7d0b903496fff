"""train/models.py and train/convert.py: fake-quantization mirrors the integer
scheme; the converted QModel (numpy integer reference) tracks the fake-quant
PyTorch model it came from."""

import numpy as np
import pytest
import torch

from microbit_nn.export import reference
from microbit_nn.export.qmodel import QModel
from microbit_nn.train.convert import default_icons, to_qmodel
from microbit_nn.train.inputs import FeatureNorm, to_tensor, window_features
from microbit_nn.train.models import RAW_SHIFT, build_model, fake_quant, fake_quant_weight


def test_fake_quant_rounds_half_up_and_saturates_like_requant():
    x = torch.tensor([-200.0, -1.5, -0.5, 0.49, 0.5, 1.5, 126.6, 500.0])
    q = fake_quant(x, 1.0, -128, 127)
    # floor(x + 0.5): the integer requantization's rounding
    assert q.tolist() == [-128.0, -1.0, 0.0, 0.0, 1.0, 2.0, 127.0, 127.0]


def test_fake_quant_passes_gradient_straight_through():
    x = torch.tensor([0.3, 1.7], requires_grad=True)
    fake_quant(x, 0.5, -128, 127).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_weight_fake_quant_is_per_channel_int8():
    w = torch.randn(4, 3, 5) * torch.tensor([0.01, 1.0, 10.0, 100.0]).reshape(4, 1, 1)
    q = fake_quant_weight(w)
    for c in range(4):
        steps = q[c] / (w[c].abs().max() / 127)
        assert torch.allclose(steps, steps.round(), atol=1e-3)
        assert steps.abs().max() <= 127 + 1e-3


def test_raw_input_scale_matches_the_integer_shift():
    mg = np.arange(-2048, 2048, 7, dtype=np.int16).reshape(1, -1, 1).repeat(3, axis=2)
    model = build_model("cnn", 3)
    model.quantized = True
    fq = model.qin(to_tensor("cnn", mg, None)) / model.input_scale
    assert np.array_equal(fq.round().numpy().astype(np.int64), reference.raw_input(mg, RAW_SHIFT))


def _random_windows(n, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 50)
    base = rng.normal(0, 300, (n, 1, 3)) + rng.normal(0, 400, (n, 1, 3)) * np.sin(
        2 * np.pi * rng.uniform(0.5, 6, (n, 1, 1)) * t[None, :, None])
    return np.clip(base + rng.normal(0, 30, (n, 50, 3)), -2048, 2047).astype(np.int16)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_converted_model_tracks_the_fake_quant_model(kind):
    torch.manual_seed(0)
    windows = _random_windows(200, 1)
    norm = FeatureNorm.fit(window_features(windows)) if kind == "mlp" else None
    model = build_model(kind, 4)
    x = to_tensor(kind, windows, norm)
    model.eval()
    model.calibrate([x])
    qm = to_qmodel(model, ["a", "b", "c", "d"], 50, 20, norm)
    qm = QModel.from_json(qm.to_json())  # what is saved is what runs
    model.quantized = True
    with torch.no_grad():
        fq = (model(x) / qm.out_scale).numpy()
    q = reference.run(qm, windows)
    # Only the m/2**s approximation of each rescale separates them: a few LSB.
    assert np.abs(q - fq).mean() < 0.5
    assert np.abs(q - fq).max() <= 4
    assert (q.argmax(1) == fq.argmax(1)).mean() >= 0.95


def test_default_icons_are_unique_per_class():
    icons = default_icons(["shake", "still", "circle", "Shake2", "zz"])
    assert icons[:3] == ["CHESSBOARD", "ASLEEP", "DIAMOND"]
    assert icons[3] == "S" and icons[4] == "Z"

"""export/qmodel.py: the model file round-trips byte for byte and is validated on load."""

import json

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.export.qmodel import (AvgPool1d, Conv1d, Dense, GlobalMaxPool, QModel, RawInput,
                                       load_model)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_save_load_roundtrip_is_byte_identical(kind, tmp_path, rng, qmodel_factory):
    qm = qmodel_factory(kind, rng)
    qm.save(tmp_path / "a.json")
    back = QModel.load(tmp_path / "a.json")
    back.save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    for a, b in zip(qm.layers, back.layers):
        assert type(a) is type(b)
        for k, v in vars(a).items():
            assert np.array_equal(np.asarray(v), np.asarray(getattr(b, k))), k
    # Same model built twice from the same seed: same bytes.
    again = qmodel_factory(kind, np.random.default_rng(1234))
    assert again.to_json() == qm.to_json()
    doc = json.loads(qm.to_json())
    assert list(doc) == sorted(doc)


def test_load_model_accepts_dir_and_file(tmp_path, rng, qmodel_factory):
    qm = qmodel_factory("mlp", rng)
    qm.save(tmp_path / "model_int8.json")
    assert load_model(tmp_path).to_json() == qm.to_json()
    assert load_model(tmp_path / "model_int8.json").to_json() == qm.to_json()


def test_load_model_missing_and_corrupt(tmp_path):
    with pytest.raises(MbnnError, match="mbnn train"):
        load_model(tmp_path)
    (tmp_path / "model_int8.json").write_text("{not json")
    with pytest.raises(MbnnError, match="not a valid int8 model"):
        load_model(tmp_path)
    (tmp_path / "model_int8.json").write_text('{"kind": "mlp"}')
    with pytest.raises(MbnnError, match="not a valid int8 model"):
        load_model(tmp_path)


def _corrupt(qm: QModel, tmp_path, edit) -> str:
    doc = json.loads(qm.to_json())
    edit(doc)
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(MbnnError) as e:
        QModel.load(tmp_path / "m.json")
    return str(e.value)


def test_validation_names_the_layer(tmp_path, rng, qmodel_factory):
    qm = qmodel_factory("cnn", rng)

    def wrong_cin(d):
        d["layers"][2]["w"] = [[[1] * 5] * 3] * 8  # conv2 expects cin = 6
    assert "layer 2 (conv1d)" in _corrupt(qm, tmp_path, wrong_cin)

    def weight_range(d):
        d["layers"][0]["w"][0][0][0] = 300
    assert "conv1d weights" in _corrupt(qm, tmp_path, weight_range)

    def small_int(d):
        d["layers"][4]["mult"][0] = 1 << 29
    assert "layer 4 (dense)" in _corrupt(qm, tmp_path, small_int)
    assert "small-int" in _corrupt(qm, tmp_path, small_int)

    def unknown(d):
        d["layers"][1]["type"] = "lstm"
    assert "unknown layer type" in _corrupt(qm, tmp_path, unknown)

    def classes(d):
        d["classes"].append("extra")
        d["icons"].append("X")
    assert "classes" in _corrupt(qm, tmp_path, classes)

    def too_short(d):
        d["window"] = 2  # conv1 gives 1 step, too few for the maxpool(2)
    assert "empty" in _corrupt(qm, tmp_path, too_short)


def test_figures_cnn(rng, qmodel_factory):
    qm = qmodel_factory("cnn", rng, window=50)
    # conv1: L=50, k=5, st=2, pd=2 -> 25 steps; conv2 on 12 steps, k=3, pd=1 -> 12
    assert qm.activation_shapes() == [(50, 3), (25, 6), (12, 6), (12, 8), (8,), (4,)]
    assert qm.activation_sizes() == [150, 150, 72, 96, 8, 4]
    # MACs skip padding taps: conv1 output t covers taps max(0,2-2t)..min(5,52-2t)
    taps1 = sum(min(5, 50 - (2 * t - 2)) - max(0, 2 - 2 * t) for t in range(25))
    taps2 = sum(min(3, 12 - (t - 1)) - max(0, 1 - t) for t in range(12))
    assert qm.macs() == taps1 * 3 * 6 + taps2 * 6 * 8 + 8 * 4
    assert qm.param_count() == (6 * 5 * 3 + 6) + (8 * 3 * 6 + 8) + (4 * 8 + 4)
    assert qm.weight_bytes() == (90 + 144 + 32) + 4 * 3 * (6 + 8 + 4)


def test_figures_mlp(rng, qmodel_factory):
    qm = qmodel_factory("mlp", rng, n_classes=3)
    assert qm.activation_sizes() == [24, 12, 3]
    assert qm.macs() == 24 * 12 + 12 * 3
    assert qm.param_count() == 24 * 12 + 12 + 12 * 3 + 3


def test_layers_coerce_and_reject(rng):
    d = Dense(w=[[1, -2]], b=[3], mult=[1], shift=[1], relu=False)
    assert d.w.dtype == np.int8 and d.b.dtype == np.int32
    with pytest.raises(MbnnError):
        Dense(w=[[0.5]], b=[0], mult=[1], shift=[1], relu=False)
    with pytest.raises(MbnnError):
        Conv1d(w=np.zeros((1, 1, 1)), b=[2 ** 40], mult=[1], shift=[1], stride=1, pad=0, relu=True)


def test_pool_layers_validate(rng, qmodel_factory):
    qm = qmodel_factory("cnn", rng)
    qm.layers[1] = AvgPool1d(k=2, stride=2, mult=1 << 29, shift=30)
    with pytest.raises(MbnnError, match="layer 1 .avgpool1d."):
        qm.validate()
    qm.layers[1] = AvgPool1d(k=2, stride=2, mult=1 << 20, shift=21)
    qm.layers[3] = GlobalMaxPool()
    qm.validate()
    qm.input = RawInput(shift=0)
    with pytest.raises(MbnnError, match="raw shift"):
        qm.validate()

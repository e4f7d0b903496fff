"""train/trainer.py through `mbnn train` / `mbnn eval`: the model directory,
its report, determinism, and accuracy on real micro:bit recordings."""

import json
from pathlib import Path

import numpy as np
import pytest

from microbit_nn.export.qmodel import load_model
from microbit_nn.host.cli import main
from microbit_nn.host.cmd_train import train_to_dir

FIXTURES = Path(__file__).parent / "fixtures" / "createai"
TRAIN_JSON = FIXTURES / "action-data.json"
TEST_JSON = FIXTURES / "shake-still-circle-legacy-test-data.json"


@pytest.fixture(scope="module")
def mlp_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp")
    train_to_dir("synthetic", "mlp", out, seed=0, epochs=40, show_progress=False)
    return out


def test_train_writes_the_model_directory(mlp_dir):
    for name in ("model_float.pt", "model_int8.json", "report.json", "report.md",
                 "training.png", "confusion_int8.png", "confusion_float.png"):
        assert (mlp_dir / name).is_file(), name
    report = json.loads((mlp_dir / "report.json").read_text())
    for key in ("accuracy_float", "accuracy_int8", "agreement", "params", "weight_bytes", "macs",
                "train_seconds", "split", "dataset", "quantization", "threshold"):
        assert key in report, key
    qm = load_model(mlp_dir)
    assert report["macs"] == qm.macs() and report["weight_bytes"] == qm.weight_bytes()
    assert report["quantization"] in ("qat", "ptq")
    assert 100 // len(qm.classes) < qm.threshold <= 80


def test_same_seed_gives_the_same_quantized_bytes(mlp_dir, tmp_path):
    train_to_dir("synthetic", "mlp", tmp_path, seed=0, epochs=40, show_progress=False)
    assert (tmp_path / "model_int8.json").read_bytes() == (mlp_dir / "model_int8.json").read_bytes()


def test_eval_json_reports_float_int8_and_agreement(mlp_dir, capsys):
    assert main(["eval", str(mlp_dir), "synthetic", "--seed", "3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("n", "accuracy_float", "accuracy_int8", "agreement", "per_class", "confusion_int8"):
        assert key in r
    assert r["n"] == int(np.sum(r["confusion_int8"]))
    # synthetic data from other people (another seed): far above chance (0.2)
    assert r["accuracy_int8"] > 0.8
    assert r["agreement"] > 0.95


def test_eval_on_a_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope"), "synthetic"]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_real_recordings_meet_the_accuracy_bar(tmp_path):
    """Trained on CreateAI's action-data, tested on its held-out legacy set.
    Issue target >= 0.95 (reported); regression bar enforced here: >= 0.90."""
    r = train_to_dir(str(TRAIN_JSON), "mlp", tmp_path, seed=0, test_data=str(TEST_JSON), show_progress=False)
    print(f"CreateAI held-out: float {r['accuracy_float']:.3f} int8 {r['accuracy_int8']:.3f}")
    assert r["test"]["n"] >= 14
    assert r["accuracy_int8"] >= 0.90


def test_augmentation_uses_the_configured_rotations(monkeypatch):
    from microbit_nn.train import augment
    from microbit_nn.train.config import TrainConfig
    from microbit_nn.train.datasets import load_dataset
    from microbit_nn.train.trainer import train

    seen, real = [], augment.augment

    def spy(windows, rng, **kw):
        seen.append(kw)
        return real(windows, rng, **kw)

    monkeypatch.setattr(augment, "augment", spy)
    ds = load_dataset("synthetic:2", seed=0)
    train(TrainConfig(epochs=1, qat_epochs=0, rotate_deg=45, motion_deg=123), ds, ds)
    assert seen and all(kw == {"rotate_deg": 45, "motion_deg": 123} for kw in seen)

"""train/unknown.py: flag rates of unknown and known windows against a direct count."""

import numpy as np
import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.export import reference
from microbit_nn.train.config import TrainConfig
from microbit_nn.train.datasets import load_dataset, split_by_group, subset
from microbit_nn.train.trainer import train
from microbit_nn.train.unknown import unknown_check


@pytest.fixture(scope="module")
def model_and_data():
    ds = load_dataset("synthetic:8", seed=0)
    tilt = ds.classes.index("tilt")
    known = subset(ds, ds.labels != tilt)
    known.classes = [c for c in ds.classes if c != "tilt"]
    known.labels = np.array([known.classes.index(ds.classes[i]) for i in known.labels])
    tr, va, _ = split_by_group(known, (0.8, 0.2, 0.0))
    return train(TrainConfig(epochs=5, qat_epochs=1), tr, va).qmodel, load_dataset("synthetic:4", seed=1)


def test_rates_match_a_direct_count(model_and_data):
    qm, ds = model_and_data
    r = unknown_check(qm, ds, ["Tilt"])
    is_u = ds.labels == ds.classes.index("tilt")
    _, conf = reference.predict(qm, ds.windows)
    conf = np.asarray(conf)
    assert r["n_unknown"] == is_u.sum() and r["n_known"] == (~is_u).sum()
    for row in r["sweep"]:
        t = row["threshold"]
        assert row["unknown_flagged"] == pytest.approx((conf[is_u] < t).mean())
        assert row["known_flagged"] == pytest.approx((conf[~is_u] < t).mean())
    assert r["at_threshold"]["threshold"] == qm.threshold
    flagged = [row["unknown_flagged"] for row in r["sweep"]]
    assert flagged == sorted(flagged)  # a higher threshold never flags fewer
    assert "higher threshold" in r["tradeoff"]


def test_a_class_the_model_knows_or_the_data_lacks_is_refused(model_and_data):
    qm, ds = model_and_data
    with pytest.raises(MbnnError, match="--exclude shake"):
        unknown_check(qm, ds, ["shake"])
    with pytest.raises(MbnnError, match="no such class"):
        unknown_check(qm, ds, ["wave"])
    with pytest.raises(MbnnError, match="does not know"):
        unknown_check(qm, ds, [])  # tilt is in the data but not named unknown

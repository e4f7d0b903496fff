"""export/events.py: the start/stop rule the device follows (firmware/app.py's #P lines)."""

import numpy as np

from microbit_nn.export import events
from microbit_nn.export.goldens import random_qmodel


def test_the_rule():
    ks = [-1, 0, 0, 1, -1, -1, 1, 1, 0]
    conf = [30, 90, 91, 80, 20, 25, 77, 78, 99]
    got = [(e["at"], e["event"], e["k"], e.get("conf")) for e in events.events(ks, conf)]
    assert got == [(1, "start", 0, 90), (3, "stop", 0, None), (3, "start", 1, 80), (4, "stop", 1, None),
                   (6, "start", 1, 77), (8, "stop", 1, None), (8, "start", 0, 99)]


def test_no_predictions_no_events():
    assert events.events([], []) == [] and events.events([-1, -1], [10, 20]) == []


def test_predicted_applies_the_threshold():
    qm = random_qmodel("mlp", n_classes=3)
    w = np.random.default_rng(0).integers(-1500, 1500, (6, qm.window, 3))
    from microbit_nn.export import reference

    k, conf = reference.predict(qm, w)
    qm.threshold = int(np.median(conf)) + 1
    ks, cs = events.predicted(qm, w)
    assert cs == conf.tolist() and ks == [int(a) if c >= qm.threshold else -1 for a, c in zip(k, conf)]
    assert -1 in ks and any(x >= 0 for x in ks)

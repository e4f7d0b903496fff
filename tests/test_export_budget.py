"""export/budget.py and `mbnn budget`: the estimate, its verdicts, and (emulator) the
estimate against the free heap measured on the emulated V1 (the oracle)."""

from __future__ import annotations

import argparse
import json

import pytest

from microbit_nn.errors import MbnnError
from microbit_nn.export import budget as B
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.hexbuild import fs_bytes
from microbit_nn.export.writer import device_files
from microbit_nn.host import cmd_budget



def test_array_cost():
    assert [B._arr(n) for n in (0, 1, 16, 17, 640)] == [16, 32, 32, 48, 656]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_bigger_models_leave_less(kind):
    free = [B.estimate(random_qmodel(kind, hidden=h)).estimate_free for h in (8, 16, 32)]
    assert free[0] > free[1] > free[2]


def test_estimate_adds_up():
    qm = random_qmodel("mlp", hidden=20)
    b = B.estimate(qm)
    assert b.estimate_free == B.V1_BASE - b.code - b.tables - b.buffers - B.INFERENCE_COST
    assert b.tables >= qm.weight_bytes() // 2  # int8 shifts make it less than weight_bytes
    assert b.fs_bytes == fs_bytes(device_files(qm, "v1")) and b.fs_size > 20000


def test_verdicts():
    b = B.Budget("v1", 0, 0, 0, 0, fs_bytes=100, fs_size=1000)
    for free, verdict in ((B.TARGET_FREE, "fits"), (B.MIN_FREE, "tight"), (B.MIN_FREE - 1, "does not fit")):
        b.estimate_free = free
        assert b.verdict == verdict
    b.measured_free_inference = B.TARGET_FREE  # a measurement overrides the estimate
    assert b.free == B.TARGET_FREE and b.verdict == "fits"
    b.fs_bytes = 2000
    assert b.verdict == "does not fit"


def test_v2_has_room_and_v1_refuses_a_big_model():
    big = random_qmodel("mlp", hidden=160)  # weights in flash (f.bin): hidden 96 loads on the emulated V1
    assert B.estimate(big, "v2").verdict == "fits"
    with pytest.raises(MbnnError, match="--hidden"):
        cmd_budget.check(big, "v1")


def test_cli_json_without_measuring(tmp_path, capsys):
    random_qmodel("cnn").save(tmp_path / "model_int8.json")
    rc = cmd_budget.run(argparse.Namespace(model=str(tmp_path), target="v1", measure=False, json=True))
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["verdict"] in ("fits", "tight") and out["measured_free_load"] is None
    assert out["free"] == out["estimate_free"] == B.estimate(random_qmodel("cnn")).estimate_free

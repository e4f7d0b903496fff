"""host/cmd_demo.py: the README's main command, end to end on the emulated V1."""

import json

import pytest

from microbit_nn.host.cli import main


@pytest.mark.emulator
@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_bit_exact(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "demo"), "--windows", "8", "--json"])
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert r["n"] == 8 and r["device_bit_exact"] == 1.0
    assert r["accuracy_device"] == r["accuracy_int8"]  # same integers, same answers
    assert r["free_heap_min"] > 0
    assert (tmp_path / "demo" / "microbit-nn-v1.hex").is_file()
    assert (tmp_path / "demo" / "report.json").is_file()

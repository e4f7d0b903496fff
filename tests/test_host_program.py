"""`mbnn program` and the user's program end to end: a CreateAI export with gesture names
as people write them is trained, given a program, built, and replayed on the emulated
V1 with events checked against the reference (issue 10's "done when")."""

from __future__ import annotations

import json

import pytest
from test_firmware_program import PROGRAM as BASE

from conftest import needs_qemu

from microbit_nn.host.cli import main

CREATEAI = "tests/fixtures/createai/action-data.json"
NAMES = {"Shake": "Not a spell", "Still": "Being still", "Circle": "Jumping up&down"}
# test_firmware_program's program (an image, a counter, a print), with a sound
PROGRAM = "import music\n" + BASE.replace(
    "    display.show(Image.HAPPY)\n", "    display.show(Image.HAPPY)\n    music.play(music.BA_DING, wait=False)\n", 1)


@pytest.fixture(scope="module")
def spells(tmp_path_factory):
    """The CreateAI fixture with free-form names, and a small mlp trained on it."""
    d = tmp_path_factory.mktemp("spells")
    data = json.loads(open(CREATEAI, encoding="utf-8").read())
    for c in data:
        c["name"] = NAMES[c["name"]]
    (d / "spells.json").write_text(json.dumps(data), encoding="utf-8")
    assert main(["train", str(d / "spells.json"), "--model", "mlp", "--hidden", "16", "--out", str(d / "m"),
                 "--quiet"]) == 0
    return d


def test_starter_uses_the_models_names(spells, capsys):
    out = spells / "my_program.py"
    assert main(["program", str(spells / "m"), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "'Not_a_spell'   (Not a spell)" in text and "'Jumping_up%26down'   (Jumping up&down)" in text
    compile(text, "my_program.py", "exec")
    assert main(["program", str(spells / "m"), "-o", str(out)]) == 1  # no silent overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["program", str(spells / "m"), "-o", str(spells), "--force"]) == 1
    assert "is a folder: give the file to write" in capsys.readouterr().err


def test_build_prints_the_names_and_refuses_a_program_too_big(spells, capsys):
    prog = spells / "p.py"
    prog.write_text(PROGRAM, encoding="utf-8")
    assert main(["build", str(spells / "m"), "--program", str(prog), "-o", str(spells / "a.hex")]) == 0
    out = " ".join(capsys.readouterr())  # rich wraps its lines: compare without line breaks
    out = " ".join(out.split())
    assert "Not a spell -> Not_a_spell" in out and "Jumping up&down -> Jumping_up%26down" in out
    big = spells / "big.py"
    big.write_text(PROGRAM + "".join("x%d = [%d] * 3\n" % (i, i) for i in range(60)), encoding="utf-8")
    assert main(["build", str(spells / "m"), "--program", str(big), "-o", str(spells / "b.hex")]) == 1
    err = capsys.readouterr().err
    assert "your program and its event code take about" in err and not (spells / "b.hex").exists()


@needs_qemu
def test_free_form_names_and_a_program_on_the_emulated_v1(spells, capsys, bitexact):
    prog = spells / "p.py"
    prog.write_text(PROGRAM, encoding="utf-8")
    assert main(["replay", str(spells / "m"), str(spells / "spells.json"), "--program", str(prog),
                 "--emulator", "--json", "--limit", "40"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["device_bit_exact"] == 1.0 and r["events_match"] is True and r["program_errors"] == []
    starts = [e for e in r["events"] if e["event"] == "start"]
    assert starts and [p for p in r["prints"] if p.startswith("start ")] == [
        "start %s %d %d" % (["Not_a_spell", "Being_still", "Jumping_up%26down"][e["k"]], e["conf"], i + 1)
        for i, e in enumerate(starts)]
    bitexact.add(r["n"])

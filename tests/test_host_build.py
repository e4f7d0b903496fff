"""host/cmd_build.py: `mbnn build` writes a hex that holds the app, and
`--asm` on the V1 is refused with the numbers when the model leaves no room."""

from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.hexbuild import hex_files
from microbit_nn.host.cli import main


def test_build_v1_and_refuse_asm_for_the_default_cnn_size(tmp_path, capsys):
    random_qmodel("cnn", seed=1, hidden=16).save(tmp_path / "model_int8.json")
    out = tmp_path / "m.hex"
    assert main(["build", str(tmp_path), "--target", "v1", "-o", str(out)]) == 0
    files = hex_files(out.read_text())
    assert {"main.py", "model.py"} <= set(files)
    assert main(["build", str(tmp_path), "--asm", "-o", str(tmp_path / "a.hex")]) == 1
    err = capsys.readouterr().err
    assert "bytes of heap free on the v1" in err and "--hidden" in err
    assert not (tmp_path / "a.hex").exists()  # nothing half-built is left behind

"""host/cmd_build.py: `mbnn build` writes a hex that holds the app (the V1 engine by
default, or the all-Python build with --no-asm), and refuses a model that leaves no
room, with the numbers, leaving nothing half-built."""

from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.hexbuild import hex_files
from microbit_nn.host.cli import main


def test_build_v1_engine_python_and_refuse_too_big(tmp_path, capsys):
    random_qmodel("cnn", seed=1, hidden=16).save(tmp_path / "model_int8.json")
    out = tmp_path / "m.hex"
    assert main(["build", str(tmp_path), "--target", "v1", "-o", str(out)]) == 0
    files = hex_files(out.read_text())
    assert {"main.py", "model.py", "p.bin"} <= set(files)
    # the all-Python cnn does not load on a V1 (measured: export/budget.py PY_CONV_RESERVE)
    assert main(["build", str(tmp_path), "--no-asm", "-o", str(tmp_path / "p.hex")]) == 1
    assert "--hidden" in capsys.readouterr().err and not (tmp_path / "p.hex").exists()
    mlp = tmp_path / "mlp"
    mlp.mkdir()
    random_qmodel("mlp", seed=1, hidden=16).save(mlp / "model_int8.json")
    assert main(["build", str(mlp), "--no-asm", "-o", str(tmp_path / "p.hex")]) == 0
    assert "model.bin" in hex_files((tmp_path / "p.hex").read_text())
    big = tmp_path / "big"
    big.mkdir()
    random_qmodel("cnn", seed=1, hidden=64).save(big / "model_int8.json")
    assert main(["build", str(big), "-o", str(tmp_path / "a.hex")]) == 1
    err = capsys.readouterr().err
    assert "bytes of heap free on the v1" in err and "--hidden" in err
    assert not (tmp_path / "a.hex").exists()  # nothing half-built is left behind

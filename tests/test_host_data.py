"""host/cmd_data.py: `mbnn data DATA --csv OUT_DIR` writes the folder whole or not at all."""

from microbit_nn.host.cli import main
from microbit_nn.train import csvdata


def test_csv_export_is_all_or_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = csvdata.write_csv_folder

    def interrupted(recs, folder):
        real(recs[:2], folder)  # some files are written, then Ctrl-C
        raise KeyboardInterrupt
    monkeypatch.setattr(csvdata, "write_csv_folder", interrupted)
    assert main(["data", "synthetic:2", "--csv", str(out)]) == 130  # "interrupted"
    assert list(tmp_path.iterdir()) == []  # neither OUT_DIR nor a temporary folder
    monkeypatch.setattr(csvdata, "write_csv_folder", real)
    assert main(["data", "synthetic:2", "--csv", str(out)]) == 0
    assert len(list(out.glob("*/*.csv"))) == 10 and [p.name for p in tmp_path.iterdir()] == ["out"]

"""export/engine.py (the V1 engine) and its machine code.

On the host: engine.s and the "#:" listings of firmware/le.py assemble to what
the device gets (also checked with LLVM when it is installed), and the blob's
relocations point inside their pieces. On the emulated V1: models using every
routine (feats, featq, rawq, conv, dense, gmp, gap, mpool, apool, amax, conf)
give the reference's logits, class and confidence, through the app as built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_export_thumb import llvm_bytes, needs_llvm
from test_firmware_qa import asm_functions, needs_qemu

from microbit_nn.errors import MbnnError
from microbit_nn.export import engine, reference, thumb
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.qmodel import GlobalAvgPool
from microbit_nn.export.writer import code_words, device_files
from microbit_nn.firmware import FIRMWARE_DIR

ENGINE_S = Path(engine.__file__).with_name("engine.s")


def gap_model():
    """The random cnn with global average pooling (the engine's gap routine)."""
    qm = random_qmodel("cnn", seed=21, hidden=12)
    qm.layers[2] = GlobalAvgPool(mult=1 << 10, shift=14)  # about a mean over 13 steps
    return qm


def test_engine_source_assembles_with_every_routine():
    src = ENGINE_S.read_text().splitlines()
    labels = thumb.labels_of(src)
    assert {"FQ", "RQ", "GM", "GA", "MP", "AP", "AM", "CF"} <= set(labels)
    code = engine.code()
    assert set(code) == set(engine.ROUTINE.values())
    assert all(len(c) % 4 == 0 and c for c in code.values())
    # qf's routine uses lr: the engine's copy saves it first and returns through pc
    f = np.frombuffer(code["F"], "<u2")
    assert f[0] == 0xB500 and 0xBD00 in f[-2:]


def test_le_listings_assemble_to_their_words():
    src = (Path(FIRMWARE_DIR) / "le.py").read_text()
    funcs = asm_functions(src)
    assert {"ex", "rl", "ad"} <= set(funcs)
    for name, (listing, _) in funcs.items():
        assert [w for line in thumb.assemble(listing) for w in line] == code_words(src, name), name


@needs_llvm
def test_engine_source_agrees_with_llvm_mc(tmp_path):
    src = ENGINE_S.read_text().splitlines()
    assert llvm_bytes(src, tmp_path) == thumb.assemble_bytes(src)


@pytest.mark.parametrize("qm", [random_qmodel("mlp"), random_qmodel("cnn"), gap_model()], ids=["mlp", "cnn", "gap"])
def test_relocations_point_inside_their_pieces(qm):
    blob = engine.build(qm)
    assert len(blob.calls) == len(qm.layers) + (2 if qm.kind == "mlp" else 1) and len(blob.outputs) == 2
    assert all(len(p) % 4 == 0 and len(p) <= max(engine.PIECE_MAX, 640) for p in blob.pieces[1:])
    listing = np.frombuffer(blob.pieces[0][:4 + 8 * len(blob.relocs)], "<i4")
    assert listing[0] == len(blob.relocs) and listing[1:].reshape(-1, 2).tolist() == [list(r) for r in blob.relocs]

    def inside(v, size=4):
        piece, off = v >> 16, v & 0xFFFF
        if piece < engine.PIECE_FIRST:
            return off == 0  # the ring and the logits are used from their start
        return off + size <= len(blob.pieces[piece - engine.PIECE_FIRST])

    for where, value in blob.relocs:
        assert where % 4 == 0 and inside(where) and inside(value & ~1, 1)
    assert all(inside(v, 16) for v in blob.calls + blob.outputs)


def test_models_the_engine_cannot_run_fall_back(monkeypatch):
    qm = random_qmodel("mlp")
    monkeypatch.setattr(engine, "SUPPORTED", ("feats", "featq"))  # as if dense had no routine
    assert not engine.supports(qm)
    with pytest.raises(MbnnError, match="without --asm"):
        engine.build(qm)
    files = device_files(qm, "v1")
    assert "p.bin" not in files and "model.bin" in files
    with pytest.raises(MbnnError, match="without --asm"):
        device_files(qm, "v1", asm=True)


def pool_model():
    """conftest's cnn: conv, max pooling, conv, global average pooling, dense."""
    from conftest import make_qmodel

    return make_qmodel("cnn", np.random.default_rng(8))


@needs_qemu
@pytest.mark.parametrize("qm", [random_qmodel("mlp", seed=3, hidden=20), random_qmodel("cnn", seed=4), gap_model(),
                                pool_model()], ids=["mlp", "cnn", "gap", "pools"])
def test_engine_on_the_emulated_v1_is_bit_exact(qm, bitexact):
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    files = device_files(qm, "v1")
    assert "p.bin" in files
    rng = np.random.default_rng(5)
    windows = np.concatenate([rng.integers(-2500, 2500, (4, qm.window, 3)),
                              rng.integers(-32768, 32768, (1, qm.window, 3))])
    with Emulator.from_files(files) as emu:
        dev = Device(emu.serial, timeout=30.0)
        dev.wait_banner()
        got = [dev.replay_window(w.tolist()) for w in windows]
    assert [list(p.logits) for p in got] == reference.run(qm, windows).tolist()
    k, conf = reference.predict(qm, windows)  # amax and conf ran in the engine too
    assert [p.conf for p in got] == conf.tolist()
    assert [p.k for p in got] == [int(a) if c >= qm.threshold else -1 for a, c in zip(k, conf)]
    bitexact.add(len(windows))

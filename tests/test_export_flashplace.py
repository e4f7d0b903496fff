"""export/flashplace.py: the engine's read-only items used in place from flash (f.bin).

On the host: no item straddles a chunk's metadata, every item is word-aligned,
and the bytes a built hex holds at each item's flash address are the item
(the hex read back is the oracle). On the emulated V1: flash builds give the
reference's logits; the heap they free and what a 15-line handler program
(shipped as the app ships one: device_files(program=...)) costs are printed as `FIGURES {...}` (docs/program.md quotes them).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from micropython_microbit_fs.hex_utils import load_hex
from test_firmware_qa import needs_qemu

from microbit_nn.export import engine, flashplace, reference
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.export.hexbuild import build_hex
from microbit_nn.export.writer import device_files

MODELS = {"mlp": lambda: random_qmodel("mlp", seed=3, hidden=20), "cnn": lambda: random_qmodel("cnn", seed=4)}

# About 15 short lines, as the example: show an image, play a tune, count.
PROGRAM = b"""from microbit import display, Image
import music
n = 0
def on_start(name, certainty):
    global n
    n += 1
    print('U start', name, certainty, n)
    if name == 'shake':
        display.show(Image.HAPPY)
        music.play(music.BA_DING, wait=False)
def on_stop(name):
    display.clear()
    print('U stop', name)
def on_prediction(name, certainty):
    print('U p', name, certainty)
"""

def test_items_never_straddle_a_chunk_and_are_word_aligned():
    rng = np.random.default_rng(0)
    items = [("t", i, rng.integers(0, 256, 4 * int(rng.integers(1, 31))).astype(np.uint8).tobytes())
             for i in range(40)]
    lay = flashplace.place(items)
    for kind, key, raw in items:
        j, at = lay.place[kind, key]
        assert at % 4 == 0 and at >= flashplace.FIRST and at + len(raw) <= flashplace.LIMIT
        assert j > 0 or at >= 1 + flashplace.HEADER  # chunk 0 starts with the file header
    # the content maps back: chunk j's data is content[126 j - header ...]
    for kind, key, raw in items:
        j, at = lay.place[kind, key]
        pos = flashplace.DATA * j + at - 1 - flashplace.HEADER
        assert lay.content[pos:pos + len(raw)] == raw
    with pytest.raises(ValueError):
        flashplace.place([("t", 0, bytes(124))])


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_hex_holds_each_item_at_its_flash_address(kind, monkeypatch):
    qm = MODELS[kind]()
    seen = []
    real = flashplace.place
    monkeypatch.setattr(flashplace, "place", lambda items: seen.append((items, real(items))) or seen[-1][1])
    files = device_files(qm, "v1", flash=True)
    assert list(files)[0] == "f.bin"  # so the hex builder gives it the first chunks
    hex_text = build_hex(files)
    chunks = flashplace.chunk_addresses(hex_text)
    x = files["model.py"].decode().split("X=(")[1].split(")")[0]
    assert [int(v) for v in x.strip(",").split(",")] == chunks == flashplace.hex_chunks(len(chunks))
    items, lay = seen[-1]
    assert items and lay.chunks == len(chunks)
    ih = load_hex(hex_text)
    for kind_, key, raw in items:  # the oracle: the hex read back at each item's address
        j, at = lay.place[kind_, key]
        assert bytes(ih[chunks[j] + at + i] for i in range(len(raw))) == raw
    blob = engine.build(qm, flash=True)
    first = engine.PIECE_FIRST + len(blob.pieces)  # f.bin's chunks come after p.bin's pieces
    for _, v in blob.relocs:
        if v >> 16 >= first:
            assert (v >> 16) - first < len(chunks) and (v & 0xFFFF) < flashplace.LIMIT
    assert sum(len(p) for p in blob.pieces) < sum(len(p) for p in engine.build(qm).pieces)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_big_weights_go_to_flash_in_groups_of_whole_filters(kind, monkeypatch):
    """A dense/conv layer's weights of more than one item (120 bytes) are f.bin items of
    whole filters, as many as one item holds (the mlp's 480-byte first layer: 4 groups
    of 5 filters of 24 bytes), and p.bin no longer holds them."""
    from microbit_nn.export.qmodel import Conv1d, Dense

    qm = MODELS[kind]()
    seen = []
    real = flashplace.place
    monkeypatch.setattr(flashplace, "place", lambda items: seen.append(items) or real(items))
    blob = engine.build(qm, flash=True)
    flash_items = {raw for _, _, raw in seen[-1]}
    big = [l for l in qm.layers if isinstance(l, (Dense, Conv1d)) and l.w.nbytes > flashplace.ITEM_MAX]
    assert big, "the model must have a layer too big for one item"
    for layer in big:
        w = np.asarray(layer.w, np.int8).tobytes()
        row = len(w) // layer.w.shape[0]
        step = flashplace.ITEM_MAX // row * row
        groups = [w[j:j + step] for j in range(0, len(w), step)]
        assert len(groups) > 1 and all(len(g) <= flashplace.ITEM_MAX and len(g) % row == 0 for g in groups)
        assert all(g in flash_items for g in groups)
        assert not any(w in p for p in blob.pieces)


def _boot(files, qm, windows):
    """Boots the app; returns (free at the banner, free after the windows, predictions, other lines)."""
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    with Emulator.from_files(files) as emu:
        dev = Device(emu.serial, timeout=30.0)
        load = int(dev.wait_banner()["free"])
        got = [dev.replay_window(w.tolist()) for w in windows]
        return load, int(dev.free_heap()), got, list(dev.noise)


def _windows(qm):
    rng = np.random.default_rng(5)
    return rng.integers(-2500, 2500, (3, qm.window, 3))


@needs_qemu
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_flash_build_is_bit_exact_and_frees_heap_on_the_emulated_v1(kind, bitexact):
    qm = MODELS[kind]()
    w = _windows(qm)
    ram = _boot(device_files(qm, "v1", flash=False), qm, w)
    flash = _boot(device_files(qm, "v1", flash=True), qm, w)
    assert [list(p.logits) for p in flash[2]] == reference.run(qm, w).tolist()
    print("FIGURES", json.dumps({"model": kind, "ram_build": ram[:2], "flash_build": flash[:2]}))
    assert flash[1] > ram[1]
    bitexact.add(len(w))


@needs_qemu
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_15_line_program_beside_a_flash_build(kind, bitexact):
    """The app compiles the program first (firmware/pl.py), then the model: the program
    loads beside both random models, on_prediction runs with each prediction's name and
    certainty, the model stays bit-exact; the heap is printed (docs/program.md)."""
    from microbit_nn.host.device import Device
    from microbit_nn.host.emulator import Emulator

    qm = MODELS[kind]()
    w = _windows(qm)
    files = device_files(qm, "v1", flash=True, program=PROGRAM.decode())
    with Emulator.from_files(files) as emu:
        dev = Device(emu.serial, timeout=30.0)
        load = int(dev.wait_banner()["free"])
        got = [dev.replay_window(v.tolist()) for v in w]
        free, errors, lines = int(dev.free_heap()), list(dev.errors), list(dev.noise)
    assert [list(p.logits) for p in got] == reference.run(qm, w).tolist()
    loaded = not any(e.startswith("program") for e in errors)
    assert loaded, errors
    name = qm.classes[got[-1].k] if got[-1].k >= 0 else "None"  # the last prediction's
    assert [t.split()[2:] for t in lines if t.startswith("U p")][-1:] == [[name, str(got[-1].conf)]]
    print("FIGURES", json.dumps({"model": kind, "flash_build_with_program": [load, free],
                                 "program_loaded": loaded, "errors": errors}))
    bitexact.add(len(w))


@needs_qemu
def test_walk_finds_a_file_wherever_its_chunks_are():
    from microbit_nn.host.emulator import Emulator

    # f.bin written after other files, so not in the first chunks
    files = {"a.py": b"x = 1\n" * 50, "f.bin": bytes(range(256)) * 3}
    hex_text = build_hex(files)
    with Emulator.from_files(files) as emu:
        out = emu.exec(flashplace.walk_snippet())
    assert [int(v) for v in out.split()] == flashplace.chunk_addresses(hex_text) != flashplace.hex_chunks(7)

"""microbit_nn/atomic.py: results appear whole or not at all, and the commands
that write results (`mbnn export`, `mbnn build -o`) keep the previous one
byte for byte when they are interrupted.

Oracle: a snapshot of every byte of the destination before the command, and
a result written without interruption."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microbit_nn import atomic
from microbit_nn.errors import MbnnError
from microbit_nn.export.goldens import random_qmodel
from microbit_nn.host.cli import main


def snapshot(path: Path) -> dict:
    """Every file under `path` (or `path` itself) -> its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


# --- replacing_dir ---------------------------------------------------------

def test_replacing_dir_replaces_the_whole_folder(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    os.chmod(dest, 0o750)
    with atomic.replacing_dir(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "new.txt").write_text("new")
        assert snapshot(dest) == {"old.txt": b"old"}  # untouched until the block succeeded
    assert snapshot(dest) == {"new.txt": b"new"}
    assert oct(dest.stat().st_mode & 0o777) == oct(0o750)  # the folder keeps its mode
    assert leftovers(tmp_path) == []


def test_a_new_folder_gets_the_usual_mode_not_a_private_one(tmp_path):
    with atomic.replacing_dir(tmp_path / "new") as tmp:
        (tmp / "a").write_text("a")
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o777 & ~umask()


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_block_leaves_the_old_folder(tmp_path, exc):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep").write_bytes(b"\x00\x01")
    with pytest.raises(type(exc)):
        with atomic.replacing_dir(dest) as tmp:
            (tmp / "half").write_text("half")
            raise exc
    assert snapshot(dest) == {"keep": b"\x00\x01"} and leftovers(tmp_path) == []


def test_replacing_dir_refuses_a_file_and_makes_missing_parents(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(MbnnError, match="is a file: choose a folder name"):
        with atomic.replacing_dir(tmp_path / "f"):
            pass
    assert (tmp_path / "f").read_text() == "x"
    with atomic.replacing_dir(tmp_path / "no" / "out") as tmp:  # as mkdir -p (./run demo writes out/demo)
        (tmp / "a").write_text("1")
    assert (tmp_path / "no" / "out" / "a").read_text() == "1" and leftovers(tmp_path / "no") == []
    with pytest.raises(MbnnError, match="cannot make folder"):
        with atomic.replacing_dir(tmp_path / "f" / "out"):  # its parent would be a file
            pass


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep").write_text("old")
    real, calls = os.rename, []

    def rename(a, b):  # the second rename (new folder into place) fails
        calls.append((a, b))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(a, b)
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(MbnnError, match="No space left"):
        with atomic.replacing_dir(dest) as tmp:
            (tmp / "new").write_text("new")
    assert snapshot(dest) == {"keep": b"old"} and leftovers(tmp_path) == []


def test_ctrl_c_during_the_swap_is_held_until_it_is_done(tmp_path, monkeypatch):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep").write_text("old")
    real = os.rename

    def rename(a, b):  # Ctrl-C between "old moved away" and "new in place"; numpy is
        # imported, so its BLAS threads (which do not block SIGINT) are there to receive it
        r = real(a, b)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return r
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with atomic.replacing_dir(dest) as tmp:
            (tmp / "new").write_text("new")
    assert snapshot(dest) == {"new": b"new"} and leftovers(tmp_path) == []


def test_a_dotted_destination_has_a_name(tmp_path):
    (tmp_path / "d" / "x").mkdir(parents=True)
    with atomic.replacing_dir(str(tmp_path / "d" / "x" / "..")) as tmp:
        (tmp / "a").write_text("a")
    assert snapshot(tmp_path / "d") == {"a": b"a"}


# --- write_file --------------------------------------------------------------

def test_write_file_replaces_and_keeps_the_mode(tmp_path):
    dest = tmp_path / "a.hex"
    atomic.write_file(dest, b"one")
    assert dest.read_bytes() == b"one" and dest.stat().st_mode & 0o777 == 0o666 & ~umask()
    os.chmod(dest, 0o640)
    atomic.write_file(dest, b"two")
    assert dest.read_bytes() == b"two" and dest.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path) == []


def test_write_file_failures_are_one_line_and_keep_the_old_file(tmp_path, monkeypatch):
    (tmp_path / "dir").mkdir()
    with pytest.raises(MbnnError, match="is a folder: give a file name"):
        atomic.write_file(tmp_path / "dir", b"x")
    atomic.write_file(tmp_path / "no" / "a.hex", b"x")  # missing folders are made
    assert (tmp_path / "no" / "a.hex").read_bytes() == b"x"
    dest = tmp_path / "a.hex"
    dest.write_bytes(b"old")

    def full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(MbnnError, match=r"cannot write the output file .*a.hex \(No space left on device\)"):
        atomic.write_file(dest, b"new")
    assert dest.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_write_file_into_a_folder_it_may_not_write(tmp_path, monkeypatch):
    """A folder the user may not write to (simulated: root may write anywhere, CI runs as root)."""
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(MbnnError, match="cannot write into .*Permission denied"):
        atomic.write_file(tmp_path / "a.hex", b"x")
    assert leftovers(tmp_path) == []


# --- the commands, interrupted by a real SIGINT ------------------------------

# Runs `mbnn ARGS` with marks at the points a result is written: each prints
# "@tag" on stderr; at the one named by MBNN_STOP ("tag:k", its k-th time) it
# waits, so the test's SIGINT lands exactly there.
HOOKED = r'''
import os, pathlib, sys, time
tag_k = os.environ["MBNN_STOP"].split(":")
seen = {}
def mark(tag):
    seen[tag] = seen.get(tag, 0) + 1
    sys.stderr.write("@%s %d\n" % (tag, seen[tag]))
    sys.stderr.flush()
    if [tag, str(seen[tag])] == tag_k:
        time.sleep(1.0)
def hook(owner, name, tag, after=False):
    real = getattr(owner, name)
    def wrapped(*a, **kw):
        if not after:
            mark(tag)
        r = real(*a, **kw)
        if after:
            mark(tag)
        return r
    setattr(owner, name, wrapped)
import microbit_nn.export.hexbuild as hexbuild
hook(hexbuild, "build_hex", "hex")
hook(pathlib.Path, "write_bytes", "write", after=True)
hook(os, "fsync", "fsync")
hook(os, "rename", "rename")
hook(os, "replace", "replace")
from microbit_nn.host.cli import main
sys.exit(main(sys.argv[1:]))
'''


def interrupted(args: list[str], stop: str, cwd: Path) -> tuple[int, str]:
    """Runs `mbnn ARGS` hooked, sends SIGINT at `stop`; returns (exit code, stderr)."""
    env = dict(os.environ, MBNN_STOP=stop)
    proc = subprocess.Popen([sys.executable, "-c", HOOKED] + args, cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    want = "@%s %s" % tuple(stop.split(":"))
    err = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            err.append(line)
            if line.strip() == want:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    text = "".join(err) + rest
    assert want in text, text
    return proc.returncode, text


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two models, and each one's export folder and V1 hex written without interruption."""
    root = tmp_path_factory.mktemp("results")
    out = {}
    for tag, seed in (("a", 1), ("b", 2)):
        d = root / ("model_" + tag)
        d.mkdir()
        random_qmodel("mlp", seed=seed).save(d / "model_int8.json")
        assert main(["export", str(d), "--out", str(root / ("export_" + tag))]) == 0
        assert main(["build", str(d), "-o", str(root / ("%s.hex" % tag))]) == 0
        out[tag] = {"model": d, "export": root / ("export_" + tag), "hex": root / ("%s.hex" % tag)}
    return out


@pytest.mark.parametrize("stop, kept", [("write:1", "a"), ("write:4", "a"), ("rename:1", "b"), ("rename:2", "b")])
def test_interrupted_export_keeps_the_previous_export(tmp_path, results, stop, kept):
    """Exporting model b over model a's export, SIGINT at `stop`: a's export, or b's whole."""
    old, new = snapshot(results["a"]["export"]), snapshot(results["b"]["export"])
    assert old != new and len(old) >= 5
    shutil.copytree(results["a"]["export"], tmp_path / "export")
    rc, err = interrupted(["export", str(results["b"]["model"]), "--out", "export"], stop, tmp_path)
    assert rc == 130 and "interrupted" in err and "Traceback" not in err, err
    assert snapshot(tmp_path / "export") == snapshot(results[kept]["export"])
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("stop, kept", [("hex:1", "a"), ("fsync:1", "a"), ("replace:1", "b")])
def test_interrupted_build_keeps_the_previous_hex(tmp_path, results, stop, kept):
    """Building model b over model a's hex, SIGINT at `stop`: a's hex, or b's whole."""
    assert results["a"]["hex"].read_bytes() != results["b"]["hex"].read_bytes()
    shutil.copy(results["a"]["hex"], tmp_path / "m.hex")
    rc, err = interrupted(["build", str(results["b"]["model"]), "-o", "m.hex"], stop, tmp_path)
    assert rc == 130 and "interrupted" in err and "Traceback" not in err, err
    assert (tmp_path / "m.hex").read_bytes() == results[kept]["hex"].read_bytes()
    assert leftovers(tmp_path) == []

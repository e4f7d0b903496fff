"""Outputs that appear whole or not at all: a failed or interrupted command
leaves the user's previous result byte for byte as it was.

A result is built in a temporary sibling of its destination (same folder, so
the final rename stays on one filesystem) and renamed into place only once
the command succeeded. SIGINT is held back during the swap itself, so Ctrl-C
can never land between "old result moved away" and "new result in place".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path

from microbit_nn.errors import MbnnError


@contextlib.contextmanager
def _no_sigint():
    """Defers SIGINT (Ctrl-C) for the few system calls of a swap (main thread only).

    Python's handler is swapped for one that only notes the signal, then the
    noted signal is delivered once the swap is done. (Blocking the signal with
    pthread_sigmask is not enough: it masks one thread, and any other thread,
    e.g. one of numpy's BLAS threads, still receives it for the main thread.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if noted:
            if callable(old):
                old(signal.SIGINT, None)  # Python's default raises KeyboardInterrupt here
            elif old == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def _mode_like(path: str, dest: Path, full: int) -> None:
    """Gives the temporary `path` the mode `dest` has, or a new file's usual mode
    (`full` minus the umask): mkstemp/mkdtemp make them private to the user."""
    try:
        mode = stat.S_IMODE(dest.stat().st_mode)
    except OSError:
        mode = full & ~_umask()
    os.chmod(path, mode)


def _parent(dest: Path, what: str) -> Path:
    """The folder `dest` goes in, made (with its parents) when missing, as `mkdir -p`."""
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MbnnError("cannot write %s %s: cannot make folder %s (%s); choose another path"
                        % (what, dest, parent, e.strerror or e)) from None
    return parent


@contextlib.contextmanager
def replacing_dir(dest, what: str = "the output folder"):
    """Yields an empty temporary folder beside `dest`; when the block succeeds it
    replaces `dest` (whose old content is removed), else it is deleted and `dest`
    is untouched. MbnnError when `dest` is a file or its parent does not exist."""
    shown, dest = dest, Path(os.path.abspath(dest))  # "." and "x/.." get a real name
    if dest.exists() and not dest.is_dir():
        raise MbnnError("%s %s is a file: choose a folder name" % (what, shown))
    parent = _parent(dest, what)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".%s.tmp-" % dest.name, dir=parent))
    except OSError as e:
        raise MbnnError("cannot write into %s (%s): choose another folder" % (parent, e.strerror)) from None
    old = None
    try:
        yield tmp
        _mode_like(str(tmp), dest, 0o777)
        with _no_sigint():
            if dest.exists():
                old = dest.with_name(".%s.old-%s" % (dest.name, tmp.name.rsplit("-", 1)[-1]))
                os.rename(dest, old)
            try:
                os.rename(tmp, dest)
            except OSError:
                if old is not None:  # put the previous result back
                    os.rename(old, dest)
                    old = None
                raise
    except OSError as e:
        raise MbnnError("cannot write %s %s (%s): choose another folder" % (what, shown, e.strerror)) from None
    finally:
        # also after a Ctrl-C held back during the swap and raised right after it
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_file(dest, data: bytes, what: str = "the output file") -> Path:
    """Writes `data` to `dest` all at once: a temporary sibling, flushed to disk,
    renamed over `dest`. MbnnError when `dest` is a folder or its parent is missing."""
    dest = Path(dest)
    if dest.is_dir():
        raise MbnnError("%s %s is a folder: give a file name" % (what, dest))
    parent = _parent(dest, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".%s.tmp-" % dest.name, dir=parent)
    except OSError as e:
        raise MbnnError("cannot write into %s (%s): choose another path" % (parent, e.strerror)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _mode_like(tmp, dest, 0o666)
        with _no_sigint():
            os.replace(tmp, dest)
    except OSError as e:
        raise MbnnError("cannot write %s %s (%s): choose another path" % (what, dest, e.strerror)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest

"""host/emulator.py: boot the real MicroPython V1 hex in QEMU and talk to it.

Oracles: the same snippets run under CPython (firmware code must print the
same on both), and the process table (no QEMU outlives its Emulator).
"""

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import microfs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.export.hexbuild import build_hex, write_hex
from microbit_nn.host import emulator
from microbit_nn.host.emulator import Emulator, find_qemu, run_files

needs_qemu = pytest.mark.skipif(not any(
    os.access(os.path.join(d, "qemu-system-arm"), os.X_OK)
    for d in os.environ.get("PATH", "").split(os.pathsep)),
    reason="qemu-system-arm is not installed (./run setup installs it)")

SNIPPET = textwrap.dedent("""\
    from array import array
    s = 0
    for i in range(60):
        s += i * i - 7 * i
    print(s, list(array('b', bytes([255, 1, 128, 127]))), -7 >> 1, (1 << 29) * 2 - 1)
    """)


def cpython(code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {})
    return out.getvalue()


def gone(pid):
    """True once `pid` is not running (absent, or a zombie nobody reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.emulator
@needs_qemu
def test_run_files_returns_output_like_cpython():
    main = SNIPPET + "print('I done')\n"
    out = run_files({"main.py": main.encode()}, re.compile(r"I done\r\n"), timeout=20)
    assert out.startswith(cpython(SNIPPET))  # the NUL the UART sends first is dropped
    assert out.endswith("I done\n")


@pytest.mark.emulator
@needs_qemu
def test_session_banner_exec_and_cleanup():
    main = b"print('I app 1')\nwhile True:\n    pass\n"  # exec must interrupt it
    with Emulator.from_files({"main.py": main}) as emu:
        pid = emu.proc.pid
        assert emu.port.startswith("/dev/")
        assert emu.wait_banner(b"I ", timeout=10) == "I app 1"
        assert microfs.ls(serial=emu.serial) == ["main.py"]  # .serial is a real port
        assert emu.exec(SNIPPET) == cpython(SNIPPET)
        emu.exec("keep = 41")
        assert emu.exec("print(keep + 1)") == "42\n"  # one boot, many snippets
        with pytest.raises(MbnnError, match="ZeroDivisionError"):
            emu.exec("print(1)\n1 // 0")
        assert emu.exec_raw("print(2)\nraise ValueError('x')")[0] == "2\n"
        with pytest.raises(MbnnError, match="did not print b'never'"):
            emu.read_until(b"never", timeout=0.5)
    assert wait_gone(pid) and not emu.alive


@pytest.mark.emulator
@needs_qemu
def test_process_gone_after_exception_in_with_block():
    with pytest.raises(RuntimeError):
        with Emulator.from_files({"main.py": b"print('I x')\n"}, wait_input=False) as emu:
            pid = emu.proc.pid
            raise RuntimeError("test failure inside the block")
    assert wait_gone(pid)
    assert emu not in emulator._LIVE


@pytest.mark.emulator
@needs_qemu
def test_missing_banner_error_shows_what_was_printed():
    main = b"print('booting')\n1 // 0\n"
    with Emulator.from_files({"main.py": main}, wait_input=False) as emu:
        with pytest.raises(MbnnError, match=r"booting \| Traceback.*ZeroDivisionError"):
            emu.wait_banner(b"I ", timeout=1.0)


@pytest.mark.emulator
@needs_qemu
def test_icount_makes_device_time_repeatable():
    # icount is the default (real time lets a starved QEMU burst its timer ticks)
    main = textwrap.dedent("""\
        import utime
        t = utime.ticks_us()
        s = 0
        for i in range(300):
            s += i
        print('I', utime.ticks_diff(utime.ticks_us(), t))
        """).encode()
    runs = [int(run_files({"main.py": main}, re.compile(r"I \d+\r?\n"), 20).split()[-1])
            for _ in range(2)]
    assert runs[0] > 0 and abs(runs[0] - runs[1]) <= runs[0] // 100


CHILD = textwrap.dedent("""\
    import sys, time
    from microbit_nn.host.emulator import Emulator
    emu = Emulator(sys.argv[1], wait_input=False)
    print(emu.proc.pid, flush=True)
    time.sleep(60)
    """)


@pytest.mark.emulator
@needs_qemu
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_orphan_when_host_process_is_killed(tmp_path, sig):
    hexfile = write_hex(build_hex({"main.py": b"print('I k')\n"}), tmp_path / "k.hex")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(hexfile)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        pid = int(child.stdout.readline())
        assert not gone(pid)
        child.send_signal(sig)
        child.wait(timeout=10)
        assert wait_gone(pid), "QEMU %d survived its parent's %s" % (pid, sig.name)
    finally:
        child.kill()
        child.wait()


def test_missing_qemu_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MBNN_QEMU", raising=False)
    with pytest.raises(MbnnError, match="apt-get install .*qemu-system-arm"):
        find_qemu()


def test_qemu_start_failure_shows_its_stderr(tmp_path):
    fake = tmp_path / "fake-qemu"
    fake.write_text("#!/bin/sh\necho 'qemu: unsupported machine type' >&2\nexit 1\n")
    fake.chmod(0o755)
    hexfile = write_hex(build_hex({"main.py": b"print(1)\n"}), tmp_path / "a.hex")
    with pytest.raises(MbnnError, match="exit 1.*unsupported machine type"):
        Emulator(hexfile, qemu=str(fake))
    assert not emulator._LIVE


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_in(env: dict, *args: str) -> subprocess.CompletedProcess:
    """This repo's pytest on `args`, in a process with `env` and no QEMU on its PATH."""
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "MBNN_QEMU", "PYTEST_ADDOPTS")}
    base["PATH"] = os.path.dirname(sys.executable)  # python's folder: qemu-system-arm is not there
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, env=dict(base, **env), capture_output=True, text=True, timeout=300)


def test_missing_qemu_skips_locally_but_fails_in_ci():
    test = "tests/test_host_emulator.py::test_run_files_returns_output_like_cpython"
    local = pytest_in({}, test)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-800:]
    ci = pytest_in({"CI": "true"}, test)
    out = ci.stdout + ci.stderr
    assert ci.returncode != 0 and "CI=true but the emulated micro:bit cannot run" in out, out[-800:]
    assert "qemu-system-arm not found" in out and "passed" not in out and "skipped" not in out


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs a QEMU the test can point MBNN_QEMU at")
def test_ci_fails_a_test_that_skips_for_qemu_itself():
    # QEMU is found through MBNN_QEMU, but this module's needs_qemu looks on PATH only and skips:
    # in CI that skip is a failure.
    test = "tests/test_host_emulator.py::test_run_files_returns_output_like_cpython"
    env = {"MBNN_QEMU": shutil.which("qemu-system-arm")}
    assert "1 skipped" in pytest_in(env, test).stdout
    ci = pytest_in(dict(env, CI="true"), test)
    assert ci.returncode == 1 and "1 error" in ci.stdout and "skipped" not in ci.stdout.splitlines()[-1]
    assert "CI=true and an emulator test skipped (qemu-system-arm is not installed" in ci.stdout, ci.stdout[-800:]


def test_ci_refuses_skips_for_qemu_and_llvm_only():
    from conftest import in_ci, refused_skip

    assert in_ci({"CI": "true"}) and in_ci({"CI": "1"}) and not in_ci({}) and not in_ci({"CI": "false"})
    assert "install QEMU" in refused_skip("qemu-system-arm is not installed", {"CI": "true"})
    assert refused_skip("qemu-system-arm is not installed", {}) is None
    assert "install llvm" in refused_skip("llvm-mc is not installed", {"CI": "true"})
    assert refused_skip("llvm-mc is not installed", {}) is None
    assert refused_skip("needs a display", {"CI": "true"}) is None


def test_not_a_hex_is_refused(tmp_path):
    """The emulator refuses what `mbnn flash` refuses (export/hexbuild.py's one check), before QEMU starts."""
    bad = tmp_path / "bad.hex"
    bad.write_text("hello\n")
    with pytest.raises(MbnnError, match="not a valid Intel .hex"):
        Emulator(bad, qemu="/nonexistent/qemu")
    good = build_hex({"main.py": b"print(1)\n"})
    line = good.splitlines()[5]
    bad.write_text(good.replace(line, line[:-2] + "%02X" % ((int(line[-2:], 16) + 1) & 0xFF), 1))
    with pytest.raises(MbnnError, match="line 6: bad checksum"):
        Emulator(bad, qemu="/nonexistent/qemu")
    bad.write_text(good[:len(good) // 2].rsplit("\n", 1)[0] + "\n")  # cut at a line end: no end record
    with pytest.raises(MbnnError, match="not a complete Intel .hex"):
        Emulator(bad, qemu="/nonexistent/qemu")
    with pytest.raises(MbnnError, match="not found"):
        Emulator(tmp_path / "missing.hex")


@settings(max_examples=200, deadline=None)
@given(stream=st.binary(max_size=60), pattern=st.binary(min_size=1, max_size=5))
def test_bytes_pattern_reads_stop_exactly_at_the_match(stream, pattern):
    # Reading in _safe_count-sized steps never consumes a byte past the first match.
    stream += pattern
    first = stream.find(pattern) + len(pattern)
    buf, pos = bytearray(), 0
    while emulator._match_end(pattern, buf) is None:
        n = emulator._safe_count(pattern, buf)
        assert n >= 1
        buf += stream[pos:pos + n]
        pos += n
    assert emulator._match_end(pattern, buf) == len(buf) == first

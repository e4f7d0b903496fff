"""The protocol client (host/device.py).

A scripted fake port answers each line the client sends (with garbage,
partial lines, stray predictions and errors mixed in), so every path runs
in milliseconds; then the client drives the simulated stub device, whose
logits follow a rule the test recomputes with numpy (the oracle).
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import needs_qemu

from microbit_nn.errors import MbnnError
from microbit_nn.host import discover
from microbit_nn.host.device import MAX_LINE, Device, Disconnected, Prediction, parse_line, sample_lines
from microbit_nn.host.sim import STUB_MAIN, SimDevice


BANNER = b"I mbnn 0.1 mlp 50 20 250 6368 shake,still,circle\r\n"


class FakePort:
    """A pyserial-like port: `answer(line) -> bytes` is called for each complete line written."""

    def __init__(self, answer=None, noise: bytes = b""):
        self.answer = answer or (lambda line: b"")
        self.rx = bytearray(noise)
        self.timeout = 0.01
        self.sent: list[str] = []
        self.broken = False
        self.lock = threading.Lock()

    @property
    def in_waiting(self) -> int:
        return len(self.rx)

    def read(self, n: int = 1) -> bytes:
        if self.broken:
            raise OSError(5, "Input/output error")
        with self.lock:
            data = bytes(self.rx[:n])
            del self.rx[:n]
        if not data:
            time.sleep(self.timeout)
        return data

    def write(self, data: bytes) -> int:
        if self.broken:
            raise OSError(5, "Input/output error")
        for line in data.decode().splitlines():
            self.sent.append(line)
            with self.lock:
                self.rx += self.answer(line)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def scripted(extra: bytes = b""):
    """Answers like the app, each answer preceded by `extra` (garbage, stray P lines...)."""
    state = {"n": 0, "seq": 0}

    def answer(line: str) -> bytes:
        if line == "!i":
            return extra + BANNER
        if line == "!g":
            return extra + b"I free 5680\r\n"
        if line in ("!r0", "!r1", "!p0", "!p1"):
            if line == "!p1":
                state["n"] = 0
            return extra + b"I mode %d %d\r\n" % (line == "!r1", line == "!p1")
        if line == "!c":  # no stray P here: in replay mode the app makes no live predictions
            state["seq"] += 1
            return extra.replace(b"P ", b"") + b"P %d 1 97 -5 40 -12\r\n" % state["seq"]
        if line == "!t":
            return extra + b"T rq ok\r\nT dense FAIL y[2] 5 != 6\r\nT done 1 1\r\n"
        if line.startswith("!"):
            return b"E unknown command\r\n"
        state["n"] += len(line.split()) // 3
        return extra + b"K %d\r\n" % state["n"]

    return answer


@pytest.mark.parametrize("line, want", [
    ("I mbnn 0.1 mlp 50 20 250 6368 shake,still", ("I", {"version": "0.1", "kind": "mlp", "window": 50,
                                                       "period_ms": 20, "hop_ms": 250, "free": 6368,
                                                       "classes": ["shake", "still"], "kernels": "unknown"})),
    ("I mbnn 0.1 mlp 50 20 250 6368 Not_a_spell,caf%C3%A9 engine",
     ("I", {"version": "0.1", "kind": "mlp", "window": 50, "period_ms": 20, "hop_ms": 250, "free": 6368,
            "classes": ["Not a spell", "café"], "kernels": "engine"})),
    ("G + 2 87", ("G", {"event": "start", "k": 2, "conf": 87})),
    ("G - 2", ("G", {"event": "stop", "k": 2})),
    ("P 7 -1 41 3 -4", ("P", Prediction(7, -1, 41, (3, -4)))),
    ("S -736 -736 736\r", ("S", (-736, -736, 736))),
    ("K 12", ("K", 12)),
    ("I free 5680", ("F", 5680)),
    ("I mode 1 0", ("M", (1, 0))),
    ("T dense FAIL y[2] 5 != 6", ("T", ("dense", False, "y[2] 5 != 6"))),
    ("T rq ok", ("T", ("rq", True, ""))),
    ("T done 9 1", ("D", (9, 1))),
    ("E bad samples", ("E", "bad samples")),
    ("B a", ("B", "a")),
])
def test_parse_line(line, want):
    assert parse_line(line) == want


@pytest.mark.parametrize("line", ["", "   ", "12 -3 4", "P 1 2", "P 1 x 3 4", "S 1 2", "I mbnn 0.1 mlp x 20 250 1 a",
                                  "K", "T done x 1", "Traceback (most recent call last):", ">>> ", "\ufffd\ufffd@@",
                                  "MicroPython v1.9.2", "I boot"])
def test_parse_line_rejects_garbage(line):
    assert parse_line(line) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_parse_line_never_raises(text):
    parse_line(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**6), st.integers(-1, 9), st.integers(0, 100), st.lists(st.integers(-128, 127), min_size=1, max_size=10))
def test_prediction_line_roundtrip(seq, k, conf, logits):
    line = "P %d %d %d %s" % (seq, k, conf, " ".join(map(str, logits)))
    assert parse_line(line) == ("P", Prediction(seq, k, conf, tuple(logits)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*[st.integers(-32768, 32767)] * 3), min_size=1, max_size=60))
def test_sample_lines_pack_within_limits(samples):
    lines = sample_lines(samples)
    assert all(len(l) <= MAX_LINE - 2 for l in lines)
    vals = [int(v) for l in lines for v in l.split()]
    assert all(len(l.split()) % 3 == 0 and len(l.split()) <= 12 for l in lines)
    assert vals == [v for s in samples for v in s]


def test_commands_through_garbage_and_stray_predictions():
    noise = b"\x00" + b"12 -3 4\r\n" + b"\xff\xfe junk\r\n" + b"P 99 0 88 1 2 3\r\n" + b"x" * 300 + b"\r\n"
    port = FakePort(scripted(b"\xfe\xffgarbage\r\nP 5 2 70 1 2 3\r\nS 1 2\r\n"), noise=b"I mbnn 0.1")
    dev = Device(port, timeout=1.0)
    port.rx += noise
    assert dev.info()["classes"] == ["shake", "still", "circle"]
    assert dev.free_heap() == 5680
    assert dev.label(1) == "still" and dev.label(-1) == "unknown"
    p = dev.replay_window(np.zeros((50, 3), dtype=np.int16))
    assert p == Prediction(1, 1, 97, (-5, 40, -12))
    assert port.sent[0:3] == ["!i", "!g", "!p1"]
    assert len([s for s in port.sent if not s.startswith("!")]) == 17  # 50 samples, 3 per line
    assert port.sent[-1] == "!c"
    dev.replay(False)
    assert dev.pending == deque()  # switching modes drops stale live predictions
    dev.info()
    assert [p.seq for p in dev.pending] == [5]  # a live prediction that came while waiting is kept


def test_selftest_results_and_count_check():
    dev = Device(FakePort(scripted()), timeout=1.0)
    assert dev.selftest() == [("rq", True, ""), ("dense", False, "y[2] 5 != 6")]

    def lossy(line):
        return b"T rq ok\r\nT done 2 0\r\n" if line == "!t" else b""
    with pytest.raises(MbnnError, match="lines were lost"):
        Device(FakePort(lossy), timeout=1.0).selftest()


def test_error_line_answers_raise():
    dev = Device(FakePort(scripted()), timeout=1.0)
    with pytest.raises(MbnnError, match="unknown command"):
        dev.ask("!z", "I")
    port = FakePort(lambda l: b"E need 50 samples\r\n" if l == "!c" else scripted()(l))
    dev = Device(port, timeout=1.0)
    with pytest.raises(MbnnError, match="need 50 samples"):
        dev.replay_window(np.zeros((50, 3), dtype=np.int16))


def test_silent_device_times_out_with_a_clear_message():
    dev = Device(FakePort(), timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(MbnnError, match=r"did not answer '!i' within 0.3 s: is it running microbit-nn\? "
                                        r"flash it with 'mbnn build' \+ 'mbnn flash'"):
        dev.info()
    assert time.monotonic() - t0 < 5  # bounded, not a hang


def test_unknown_output_is_quoted_on_timeout():
    port = FakePort(lambda l: b"some other program " + l.encode() + b"\r\nValueError: 3\r\n")
    with pytest.raises(MbnnError, match=r"the app is not running \(it printed: some other program !i"):
        Device(port, timeout=0.3).info()


def test_crashed_app_fails_fast_with_its_exception():
    crash = (b"Traceback (most recent call last):\r\n  File \"__main__\", line 15, in <module>\r\n"
             b"MemoryError: memory allocation failed, allocating 856 bytes\r\n")
    port = FakePort(noise=crash)
    dev = Device(port, timeout=30.0)
    t0 = time.monotonic()
    with pytest.raises(MbnnError, match=r"app stopped with MemoryError: memory allocation failed.*too big"):
        dev.info()
    assert time.monotonic() - t0 < 5  # no need to wait for the 30 s timeout
    port.rx += b"\x00" + BANNER  # reset: the app talks again, the crash is forgotten
    assert dev.info()["kind"] == "mlp"
    port = FakePort(noise=crash.replace(b"MemoryError", b"ValueError"))
    with pytest.raises(MbnnError, match="stopped with ValueError.*press reset"):
        Device(port, timeout=30.0).info()


def test_repl_prompt_is_recognised():
    repl = b"MicroPython v1.9.2-34-gd64154c73 on 2017-09-01; micro:bit v1.1.1 with nRF51822\r\n"
    repl += b"Type \"help()\" for more information.\r\n>>> "

    def echo(line):
        return (line.encode() + b"\r\nTraceback (most recent call last):\r\n  File \"<stdin>\", line 1\r\n"
                b"SyntaxError: invalid syntax\r\n>>> ")
    with pytest.raises(MbnnError, match="at the MicroPython prompt, not running microbit-nn"):
        Device(FakePort(echo, noise=repl), timeout=30.0).info()


def test_bad_input_refused_before_sending():
    port = FakePort(scripted())
    dev = Device(port, timeout=1.0)
    with pytest.raises(MbnnError, match="at most 80"):
        dev.send("1 " * 50)
    with pytest.raises(MbnnError, match="at least 50"):
        dev.replay_window([(1, 2, 3)] * 10)
    with pytest.raises(MbnnError, match="rows of 3"):
        dev.replay_window([(1, 2)] * 50)
    assert port.sent == ["!i"]


def test_logit_count_mismatch_is_caught():
    port = FakePort(lambda l: b"P 1 0 50 1 2\r\n" if l == "!c" else scripted()(l))
    with pytest.raises(MbnnError, match="2 logits for 3 classes"):
        Device(port, timeout=1.0).replay_window(np.zeros((50, 3)))


def test_disconnect_raises_disconnected():
    port = FakePort(scripted())
    dev = Device(port, timeout=1.0)
    dev.info()
    port.broken = True
    with pytest.raises(Disconnected, match="went away"):
        dev.info()
    with pytest.raises(Disconnected):
        dev.poll(0.1)


def test_live_predictions_and_samples():
    port = FakePort(scripted())
    dev = Device(port, timeout=0.5)
    dev.info()
    port.rx += b"P 1 0 90 9 1 1\r\nP 2 x\r\nP 3 2 80 1 1 1 1\r\nP 4 2 80 1 1 9\r\n"
    preds = dev.predictions()
    assert [next(preds).seq, next(preds).seq] == [1, 4]  # the garbled ones are skipped
    with pytest.raises(MbnnError, match="did not send a prediction within 0.5 s"):
        next(preds)
    dev.raw(True)
    port.rx += b"S 1 2 3\r\nS 4 5\r\nS 7 8 9\r\n"
    s = dev.samples()
    assert [next(s), next(s)] == [(1, 2, 3), (7, 8, 9)]
    assert "!r1" in port.sent
    dev.close()
    assert port.sent[-1] == "!r0"


def _stub_logits(window: np.ndarray) -> list[int]:
    """The stub app's documented rule: per axis, mean // 8, clamped to int8."""
    w = np.asarray(window, dtype=np.int64)[-10:]
    return [int(v) for v in np.clip((w.sum(axis=0) // 10) // 8, -128, 127)]


def test_replay_against_the_simulated_stub():
    rng = np.random.default_rng(7)
    with SimDevice({"main.py": STUB_MAIN}, mem_free=5431) as sim:
        ser = discover.open_port(sim.port)
        dev = Device(ser)
        for n in (10, 13, 24):
            w = rng.integers(-2048, 2048, size=(n, 3))
            p = dev.replay_window(w)
            assert list(p.logits) == _stub_logits(w)
            assert p.k in (-1, int(np.argmax(p.logits)))
        assert dev.info()["kind"] == "stub"  # replay mode left on; commands still work
        ser.write(b"9" * 200 + b"\n")  # an over-long line to the device: an E line, then business as usual
        with pytest.raises(MbnnError, match="too long"):
            dev.ask(None, "I", 2.0)
        assert dev.free_heap() == 5431 and dev.meta["free"] == 5431  # the device's gc.mem_free()
        ser.close()


@needs_qemu
def test_client_against_the_real_app_in_the_emulator(rng, qmodel_factory):
    """info, replay (bit-exact with the numpy reference), free heap, raw samples, selftest on the V1."""
    from microbit_nn.export import budget, reference, writer
    from microbit_nn.host.emulator import Emulator

    qm = qmodel_factory("mlp", rng, n_classes=3)
    with Emulator.from_files(writer.device_files(qm, "v1")) as emu:
        dev = Device(emu.serial, timeout=30.0)
        assert dev.wait_banner()["classes"] == list(qm.classes)
        w = rng.integers(-1500, 1500, size=(qm.window, 3))
        assert list(dev.replay_window(w).logits) == reference.run(qm, w[None])[0].tolist()
        # after loading and one replay: at least what `mbnn budget` promises, below the V1's 16 KB of RAM
        assert budget.MIN_FREE <= dev.free_heap() < 16 * 1024
        dev.replay(False)
        samples = dev.samples()
        assert next(samples) == (-736, -736, 736)  # QEMU's accelerometer is constant
        dev.raw(False)
        results = dev.selftest(timeout=120.0)
        assert results and all(ok for _, ok, _ in results), [r for r in results if not r[1]]


def test_a_model_that_did_not_load_says_deploy():
    port = FakePort(scripted(b"E no model OSError(2,) redeploy\r\n"))
    dev = Device(port, timeout=2.0)
    with pytest.raises(MbnnError, match=r"did not load \(OSError\(2,\)\): copy it again with 'mbnn deploy MODEL'"):
        dev.wait_banner(timeout=2.0)

"""host/serialio.py: lines out of a messy byte stream, with timeouts, on a fake port.

The oracle for the splitter is the plain `split` of the whole stream: however
the bytes are chunked, the same lines must come out.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microbit_nn.errors import MbnnError
from microbit_nn.host.serialio import LineReader, LineSplitter, RawRepl, send_line, soft_reset


class FakePort:
    """A pyserial-like port: `arrivals` are (time, bytes); a read with nothing
    waiting 'blocks' by advancing the fake clock by the port timeout."""

    def __init__(self, arrivals, timeout=None):
        self.arrivals = list(arrivals)
        self.now = 0.0
        self.timeout = timeout
        self.buf = b""
        self.written = b""
        self.reads = 0

    def clock(self):
        return self.now

    def _arrive(self):
        while self.arrivals and self.arrivals[0][0] <= self.now:
            self.buf += self.arrivals.pop(0)[1]

    @property
    def in_waiting(self):
        self._arrive()
        return len(self.buf)

    def read(self, n):
        self.reads += 1
        self._arrive()
        if not self.buf:
            self.now += self.timeout
            self._arrive()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def write(self, data):
        self.written += data

    def flush(self):
        pass


text_lines = st.lists(st.text(st.characters(blacklist_characters="\r\n\x00",
                                            blacklist_categories=("Cs",)), max_size=40),
                      max_size=12)


@settings(max_examples=150, deadline=None)
@given(lines=text_lines, cuts=st.lists(st.integers(0, 600), max_size=10), crlf=st.booleans())
def test_any_chunking_gives_the_same_lines(lines, cuts, crlf):
    stream = "".join(l + ("\r\n" if crlf else "\n") for l in lines).encode()
    sp = LineSplitter(max_len=1000)
    got, prev = [], 0
    for c in sorted(set(cuts)) + [len(stream)]:
        got += sp.feed(stream[prev:c])
        prev = max(prev, c)
    assert got == lines
    assert sp.flush() is None


def test_partial_line_waits_for_newline():
    sp = LineSplitter()
    assert sp.feed(b"P 1 sha") == []
    assert sp.feed(b"ke 90") == []
    assert sp.feed(b"\r") == []
    assert sp.feed(b"\nP 2") == ["P 1 shake 90"]
    assert sp.flush() == "P 2"


def test_garbage_bytes_and_nul():
    sp = LineSplitter()
    # A NUL is what the V1 UART sends first; \xff\xfe are not UTF-8.
    assert sp.feed(b"\x00I boot\n\xff\xfeS 1 2\n") == ["I boot", "\ufffd\ufffdS 1 2"]


def test_overlong_line_dropped_with_note():
    sp = LineSplitter(max_len=16)
    out = sp.feed(b"ok\n" + b"x" * 10)
    out += sp.feed(b"y" * 10)  # now over 16 without a newline: dropped
    out += sp.feed(b"z" * 50)  # still the same runaway line
    out += sp.feed(b"\nafter\n" + b"q" * 17 + b"\nlast\n")
    assert out == ["ok", "after", "last"]
    assert sp.dropped == 2 and "longer than 16 bytes" in sp.notes[0]
    assert sp.feed(b"exactly-16-bytes\n") == ["exactly-16-bytes"]


def test_reader_timeout_and_partial_lines():
    port = FakePort([(0.0, b"I re"), (0.3, b"ady\nP 1"), (2.0, b" a\n")])
    rd = LineReader(port, clock=port.clock)
    assert port.timeout == 0.05  # a blocking port is made responsive
    assert rd.readline(1.0) == "I ready"
    assert rd.readline(1.0) is None  # "P 1" is incomplete within the timeout
    assert port.now < 1.5  # the wait ended near the deadline
    assert rd.readline(5.0) == "P 1 a"
    assert rd.readline(0.0) is None


def test_reader_read_lines_until():
    port = FakePort([(0.0, b"a\nb\nT x ok\nc\n")], timeout=0.01)
    rd = LineReader(port, clock=port.clock)
    assert rd.read_lines(1.0, until=lambda l: l.startswith("T")) == ["a", "b", "T x ok"]
    assert rd.read_lines(0.5) == ["c"]
    assert port.now >= 0.5


def test_reader_port_failure_is_mbnn_error():
    class Broken(FakePort):
        def read(self, n):
            raise OSError("device disconnected")
    port = Broken([], timeout=0.05)
    with pytest.raises(MbnnError, match="plugged in"):
        LineReader(port, clock=port.clock).readline(1.0)


def test_send_line():
    port = FakePort([])
    send_line(port, "!raw on")
    assert port.written == b"!raw on\n"
    with pytest.raises(ValueError):
        send_line(port, "two\nlines")


def test_soft_reset_leaves_raw_mode_then_reboots():
    port = FakePort([])
    soft_reset(port)
    assert port.written == b"\x02\x04"  # Ctrl-B (friendly REPL), Ctrl-D (soft reboot: main.py runs)

    class Broken(FakePort):
        def write(self, data):
            raise OSError("device disconnected")
    with pytest.raises(MbnnError, match="plugged in"):
        soft_reset(Broken([]))


def test_raw_repl_protocol():
    # A scripted board: replies to Ctrl-C, Ctrl-A and Ctrl-D as MicroPython does.
    sent, replies = [], []

    def write(data):
        sent.append(data)
        if data.endswith(b"\x03"):
            replies.append(b"\r\n>>> ")
        elif data.endswith(b"\x01"):
            replies.append(b"raw REPL; CTRL-B to exit\r\n>")
        elif data == b"\x04":
            replies.append(b"OK5\r\n\x04Traceback\r\nE\r\n\x04>")

    def read_until(pat, timeout):
        r = replies.pop(0)
        assert r.endswith(pat)
        return r

    repl = RawRepl(write, read_until, chunk=4, delay=0)
    repl.enter(1.0)
    assert repl.run("print(5)", 1.0) == ("5\n", "Traceback\nE\n")
    assert sent[:2] == [b"\r\x03\x03", b"\r\x01"]
    assert sent[2:] == [b"prin", b"t(5)", b"\x04"]  # code paced in 4-byte chunks

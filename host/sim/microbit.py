"""A fake `microbit` module, so the firmware app runs unchanged under CPython.

The simulated device runner (host/sim/device.py) installs this module as
`microbit` (and `utime`) in a child process and calls `configure` first:
- `uart` reads and writes one end of a pty pair (the host opens the other
  end with pyserial). Writes never block: when the host does not read, bytes
  are dropped, as on the real USB serial. A Ctrl-C byte raises
  KeyboardInterrupt in the app, as on the device, so microfs can stop it.
- `accelerometer` replays a function of time (ms) -> (x, y, z) milli-g.
- `display.show/scroll/clear` are logged (JSON lines) for tests to read.
- buttons are pressed by `press("a")` (the runner maps SIGUSR1/SIGUSR2 to it).
- time: `running_time()` is real time times `speed`; `sleep` scales too.
"""

from __future__ import annotations

import errno
import json
import os
import select
import time
import types

_fd: int | None = None
_rx = bytearray()
_t0 = time.monotonic()
_speed = 1.0
_accel = None
_log = None
_presses: dict[str, list[int]] = {"a": [], "b": []}
PRESS_MS = 100  # how long a scripted press holds the button down


def configure(fd=None, accel=None, speed=1.0, log=None, buttons=()):
    """Wire the fake hardware: pty fd, accel(t_ms) -> (x,y,z), clock speed, display log path, presses."""
    global _fd, _accel, _speed, _log, _t0
    _fd, _accel, _speed, _t0 = fd, accel, float(speed), time.monotonic()
    _log = open(log, "a", buffering=1) if log else None
    del _rx[:]
    for v in _presses.values():
        del v[:]
    if fd is not None:
        os.set_blocking(fd, False)
    for t, name in buttons:
        _presses[name].append(int(t))


def _now():
    return int((time.monotonic() - _t0) * 1000 * _speed)


def press(name="a"):
    """Press button `name` now (for PRESS_MS of device time)."""
    _presses[name].append(_now())


def _pull():
    """Move every byte waiting on the pty into the receive buffer."""
    if _fd is None:
        return
    while True:
        try:
            data = os.read(_fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the host side is closed (unplugged)
            if exc.errno == errno.EIO:
                return
            raise
        if not data:
            return
        _rx.extend(data)


def _pump():
    """Receive, and raise KeyboardInterrupt on a Ctrl-C byte like the device does."""
    _pull()
    i = _rx.find(b"\x03")
    if i >= 0:
        del _rx[:i + 1]
        raise KeyboardInterrupt


def take(timeout):
    """Raw bytes for the REPL (no Ctrl-C handling): waits up to `timeout` s."""
    if not _rx and _fd is not None:
        select.select([_fd], [], [], timeout)
        _pull()
    data = bytes(_rx)
    del _rx[:]
    return data


def write_raw(data):
    """Send bytes to the host; dropped when the host is not reading or gone."""
    if _fd is None:
        return
    view = memoryview(bytes(data))
    while view:
        try:
            n = os.write(_fd, view)
        except OSError:  # EAGAIN (buffer full) or EIO (no host): lost, as on USB
            return
        view = view[n:]


def _record(op, arg=None):
    if _log is not None:
        _log.write(json.dumps({"t": _now(), "op": op, "arg": arg}) + "\n")


def wobble(t):
    """A demo accelerometer source: a slow integer tilt around x and y (1.6 s period), z near -1 g."""
    ph = (t // 20) % 80
    tri = (ph if ph < 40 else 80 - ph) * 40 - 800  # -800 .. 800 milli-g
    return (tri, -tri // 2, -1000 + abs(tri) // 4)


def running_time():
    return _now()


def sleep(ms):
    end = time.monotonic() + ms / 1000.0 / _speed
    while True:
        _pump()
        left = end - time.monotonic()
        if left <= 0:
            return
        if _fd is not None:
            select.select([_fd], [], [], min(left, 0.05))
        else:
            time.sleep(min(left, 0.05))


def temperature():
    return 21


class Reset(BaseException):
    """Raised by reset(): the runner restarts main.py, like a hard reset."""


def reset():
    raise Reset()


def panic(n=0):
    raise SystemExit("panic %d" % n)


class _Uart:
    ODD, EVEN = 1, 0

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, pins=None, tx=None, rx=None):
        pass

    def any(self):
        _pump()
        if not _rx and _fd is not None:
            # An app polling in a tight loop would spin a host core at 100%: idle 1 ms
            # (the real device is far slower than that per loop anyway).
            select.select([_fd], [], [], 0.001)
            _pump()
        return len(_rx) > 0

    def read(self, n=None):
        _pump()
        if not _rx:
            return None
        n = len(_rx) if n is None else n
        data = bytes(_rx[:n])
        del _rx[:n]
        return data

    def readline(self):
        _pump()
        if not _rx:
            return None
        i = _rx.find(b"\n")
        return self.read(len(_rx) if i < 0 else i + 1)

    def readinto(self, buf, n=None):
        data = self.read(len(buf) if n is None else n)
        if data is None:
            return None
        buf[:len(data)] = data
        return len(data)

    def write(self, buf):
        data = buf.encode() if isinstance(buf, str) else bytes(buf)
        write_raw(data)
        return len(data)


class _Accelerometer:
    def get_values(self):
        x, y, z = _accel(_now()) if _accel else (0, 0, -1024)
        return (int(x), int(y), int(z))

    def get_x(self):
        return self.get_values()[0]

    def get_y(self):
        return self.get_values()[1]

    def get_z(self):
        return self.get_values()[2]

    def current_gesture(self):
        return ""


class _Button:
    def __init__(self, name):
        self._name, self._was, self._count = name, 0, 0

    def _started(self):
        now = _now()
        return [t for t in _presses[self._name] if t <= now]

    def is_pressed(self):
        now = _now()
        return any(t <= now < t + PRESS_MS for t in _presses[self._name])

    def was_pressed(self):
        n = len(self._started())
        new, self._was = n > self._was, n
        return new

    def get_presses(self):
        n = len(self._started())
        new, self._count = n - self._count, n
        return new


_IMAGES = (
    "HEART HEART_SMALL HAPPY SMILE SAD CONFUSED ANGRY ASLEEP SURPRISED SILLY FABULOUS MEH YES NO "
    "CLOCK12 CLOCK11 CLOCK10 CLOCK9 CLOCK8 CLOCK7 CLOCK6 CLOCK5 CLOCK4 CLOCK3 CLOCK2 CLOCK1 "
    "ARROW_N ARROW_NE ARROW_E ARROW_SE ARROW_S ARROW_SW ARROW_W ARROW_NW TRIANGLE TRIANGLE_LEFT "
    "CHESSBOARD DIAMOND DIAMOND_SMALL SQUARE SQUARE_SMALL RABBIT COW MUSIC_CROTCHET MUSIC_QUAVER "
    "MUSIC_QUAVERS PITCHFORK XMAS PACMAN TARGET TSHIRT ROLLERSKATE DUCK HOUSE TORTOISE BUTTERFLY "
    "STICKFIGURE GHOST SWORD GIRAFFE SKULL UMBRELLA SNAKE"
).split()


class Image:
    """Images are only named: Image.HAPPY logs as 'Image.HAPPY', Image('...') by its text."""

    def __init__(self, text="", *args):
        self._text = text if isinstance(text, str) else ""

    def __repr__(self):
        return self._text


for _n in _IMAGES:
    setattr(Image, _n, Image("Image." + _n))
Image.ALL_CLOCKS = [getattr(Image, "CLOCK%d" % i) for i in range(12, 0, -1)]
Image.ALL_ARROWS = [getattr(Image, "ARROW_" + d) for d in ("N", "NE", "E", "SE", "S", "SW", "W", "NW")]


class _Display:
    def __init__(self):
        self._px = [[0] * 5 for _ in range(5)]

    def show(self, x, delay=400, wait=True, loop=False, clear=False):
        _record("show", repr(x) if isinstance(x, Image) else str(x))

    def scroll(self, text, delay=150, wait=True, loop=False, monospace=False):
        _record("scroll", str(text))

    def clear(self):
        self._px = [[0] * 5 for _ in range(5)]
        _record("clear")

    def set_pixel(self, x, y, v):
        self._px[y][x] = v

    def get_pixel(self, x, y):
        return self._px[y][x]

    def on(self):
        pass

    def off(self):
        pass

    def is_on(self):
        return True

    def read_light_level(self):
        return 0


uart = _Uart()
accelerometer = _Accelerometer()
display = _Display()
button_a, button_b = _Button("a"), _Button("b")

# `utime` as on MicroPython, on the same (scaled) clock.
utime = types.ModuleType("utime")
utime.ticks_ms = _now
utime.ticks_us = lambda: int((time.monotonic() - _t0) * 1e6 * _speed)
utime.ticks_diff = lambda a, b: a - b
utime.ticks_add = lambda a, b: a + b
utime.sleep_ms = sleep
utime.sleep_us = lambda us: sleep(us / 1000.0)
utime.sleep = lambda s: sleep(s * 1000)
utime.time = lambda: _now() // 1000

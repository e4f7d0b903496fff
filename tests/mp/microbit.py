# A fake `microbit` module for MicroPython's WebAssembly port under node
# (tests/mp/run.mjs), so the firmware app runs unchanged on a real recent
# MicroPython. host/sim/microbit.py is the CPython one; it drives a pty with
# os/select, which this port lacks, so this one is separate and minimal:
# - uart: host bytes come from node's stdin through js.mb_read (blocking: the
#   app's loop waits in uart.any() for the host's next line, as the host's
#   flow control makes it do); uart.write goes to stdout like print.
#   End of input raises Unplugged, which ends the run (tests/mp/boot.py).
# - reset() raises Reset: boot.py runs main.py again, as the board restarts.
#   Reset and Unplugged are BaseExceptions: the app's `except Exception`
#   must not catch them (a real reset() never returns).
# - the accelerometer lies flat; buttons are never pressed; the display
#   keeps what it showed in `shown`; Image has no named images, so the app
#   shows a class's first letter.
import js
from time import ticks_ms, sleep_ms


class Reset(BaseException):
    pass


class Unplugged(BaseException):
    pass


class _Uart:
    def __init__(self):
        self._b = b''

    def init(self, *a, **k):
        pass

    def any(self):
        if not self._b:
            s = js.mb_read(64)
            if s is None:
                raise Unplugged()
            # node hands the bytes over as latin-1 text: one char per byte
            self._b = bytes([ord(c) for c in s])
        return len(self._b)

    def read(self, n=None):
        if not self.any():
            return None
        n = len(self._b) if n is None else n
        d = self._b[:n]
        self._b = self._b[n:]
        return d

    def readline(self):
        if not self.any():
            return None
        i = self._b.find(b'\n')
        return self.read(len(self._b) if i < 0 else i + 1)

    def readinto(self, buf, n=None):
        d = self.read(len(buf) if n is None else n)
        if d is None:
            return None
        buf[:len(d)] = d
        return len(d)

    def write(self, buf):
        print(buf if isinstance(buf, str) else str(buf, 'latin-1'), end='')
        return len(buf)


class _Accelerometer:
    def get_values(self):
        return (0, 0, -1024)

    def get_x(self):
        return 0

    def get_y(self):
        return 0

    def get_z(self):
        return -1024


class _Button:
    def was_pressed(self):
        return False

    def is_pressed(self):
        return False

    def get_presses(self):
        return 0


class Image:
    def __init__(self, *a):
        pass


class _Display:
    def __init__(self):
        self.shown = []

    def show(self, x, *a, **k):
        self.shown.append(x)

    def scroll(self, x, *a, **k):
        self.shown.append(x)

    def clear(self):
        pass


def reset():
    raise Reset()


def running_time():
    return ticks_ms()


def sleep(ms):
    sleep_ms(ms)


uart = _Uart()
accelerometer = _Accelerometer()
display = _Display()
button_a = _Button()
button_b = _Button()

"""A simulated micro:bit for fast host <-> device tests without QEMU.

`SimDevice(files)` runs a firmware app (normally the real firmware/main.py
with the exported model.py) under CPython with a fake `microbit` module,
behind a pty that pyserial opens like the real USB serial port.

`STUB_MAIN` is a tiny stand-in app that speaks docs/protocol.md with a
trivial "model" (logit c = mean of axis c over the window // 8, clamped to
int8): enough to test the host side when the real app is not needed. It is
not the firmware app. Its free-heap figures are gc.mem_free(): the `mem_free`
the SimDevice was given. With a file `noise` in its filesystem it also prints
garbage and over-long lines between its answers.
"""

from microbit_nn.host.sim.device import SimDevice

STUB_MAIN = r'''
from microbit import uart, accelerometer, running_time, sleep, button_a, display
import gc
import os
W, HOP, NAMES = 10, 250, "x,y,z"
NOISE = "noise" in os.listdir()
buf, raw, rep, seq, line, skip = [], 0, 0, 0, b"", 0


def out(s):
    if NOISE:
        uart.write(b"\xff\xfe@@ junk\r\n" + b"9" * 5000 + b"\r\nP 1 2\r\n")  # longer than serialio.MAX_LINE
    print(s)


def banner():
    out("I mbnn 0.0 stub %d 20 %d %d %s" % (W, HOP, gc.mem_free(), NAMES))


def predict():
    global seq
    seq += 1
    w = buf[-W:]
    lg = [max(-128, min(127, sum(s[c] for s in w) // W // 8)) for c in range(3)]
    top = max(lg)
    k = lg.index(top)
    conf = min(100, top - sorted(lg)[1])
    if conf < 5:
        k = -1
    out("P %d %d %d %s" % (seq, k, conf, " ".join(str(v) for v in lg)))
    display.show(NAMES.split(",")[k] if k >= 0 else "?")


def handle(l):
    global raw, rep, buf
    if l == b"!i":
        banner()
    elif l in (b"!r0", b"!r1"):
        raw = l[2] - 48
        out("I mode %d %d" % (raw, rep))
    elif l in (b"!p0", b"!p1"):
        rep = l[2] - 48
        buf = []
        out("I mode %d %d" % (raw, rep))
    elif l == b"!c":
        if rep and len(buf) >= W:
            predict()
        else:
            out("E need %d samples" % W)
    elif l == b"!g":
        out("I free %d" % gc.mem_free())
    elif l == b"!t":
        out("T add ok")
        out("T mul FAIL 3 != 4")
        out("T done 1 1")
    elif l.startswith(b"!"):
        out("E unknown command")
    else:
        try:
            v = [int(t) for t in l.split()]
        except ValueError:
            v = []
        if not rep:
            out("E not in replay mode")
        elif not v or len(v) % 3 or len(v) > 12:
            out("E bad samples")
        else:
            for i in range(0, len(v), 3):
                buf.append(tuple(v[i:i + 3]))
            buf = buf[-W:]
            out("K %d" % len(buf))


uart.write(b"\x00")
print("12 -3 4")  # the tail of a line, as after a reset mid-line
banner()
t_s = t_p = running_time()
while True:
    if uart.any():
        line += uart.read()
        while b"\n" in line:
            l, line = line.split(b"\n", 1)
            if skip:
                skip = 0
            elif len(l) > 80:
                out("E line too long")
            elif l.strip():
                handle(l.strip())
        if len(line) > 80:
            out("E line too long")
            line, skip = b"", 1
    now = running_time()
    if now - t_s >= 20:
        t_s += 20
        if not rep:
            s = accelerometer.get_values()
            buf = (buf + [s])[-W:]
            if raw:
                out("S %d %d %d" % s)
    if now - t_p >= HOP:
        t_p += HOP
        if not rep and len(buf) >= W:
            predict()
    if button_a.was_pressed():
        out("B a")
    sleep(2)
'''

__all__ = ["SimDevice", "STUB_MAIN"]

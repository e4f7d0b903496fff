# What the board does at power-on, for MicroPython's WebAssembly port
# (tests/mp/run.mjs runs this): run main.py from the filesystem; when the
# app calls microbit.reset(), forget the app's modules and run main.py again;
# when the host closes the line (microbit.Unplugged), stop. A crash prints
# its traceback to the serial output, as on the device, and stops.
import sys
import microbit

base = set(sys.modules)
while True:
    for k in list(sys.modules):
        if k not in base:
            del sys.modules[k]
    try:
        exec(open('main.py').read(), {'__name__': '__main__'})
    except microbit.Reset:
        continue
    except microbit.Unplugged:
        break
    except Exception as e:
        sys.print_exception(e, sys.stdout)
    break

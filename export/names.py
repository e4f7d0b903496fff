"""Gesture names as people write them, and the ASCII form the device gets.

CreateAI projects name gestures freely ('Not a spell', 'Jumping up&down',
'café'). The device needs short ASCII without spaces, commas or quotes (the
banner is space-separated, the names are one comma-joined string in
model.py), so it gets a reversible form: a space becomes '_', ASCII letters,
digits, '-' and '.' stay, anything else is %XX per UTF-8 byte ('_' itself is
%5F). A user's program on the device receives this form; every host output
decodes it back (`real_name`), so reports, stream, JSON and CSV keep the real
name even without the model at hand.
"""

from __future__ import annotations

from microbit_nn.errors import MbnnError

MAX_CHARS = 40  # longest gesture name accepted
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")


def device_name(name: str) -> str:
    """The ASCII form of `name` that goes on the micro:bit."""
    out = []
    for ch in name:
        if ch == " ":
            out.append("_")
        elif ch in _SAFE:
            out.append(ch)
        else:
            out += ["%%%02X" % b for b in ch.encode("utf-8")]
    return "".join(out)


def real_name(text: str) -> str:
    """The name a device form stands for (the inverse of device_name); text that is not
    a valid device form comes back as it is."""
    raw, i = bytearray(), 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and _hex(text[i + 1:i + 3]):
            raw.append(int(text[i + 1:i + 3], 16))
            i += 3
            continue
        raw += b" " if ch == "_" else ch.encode("utf-8")
        i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


def _hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789ABCDEFabcdef" for c in s)


def check(classes: list[str]) -> list[str]:
    """The device forms of `classes`; MbnnError for a name no device form can carry."""
    for name in classes:
        if not name or not name.strip() or len(name) > MAX_CHARS or not name.isprintable():
            raise MbnnError("gesture name %r cannot be used: give 1 to %d printable characters "
                            "(rename its folder or CreateAI gesture and train again)" % (name, MAX_CHARS))
    forms = [device_name(n) for n in classes]
    if len(set(forms)) != len(forms):
        raise MbnnError("two gesture names are the same: %s; rename one and train again" % ", ".join(classes))
    return forms

"""The options every command that puts a model on a board shares: MODEL, --program
FILE (the user's program, docs/program.md) and --icon NAME=IMAGE; parsed and
checked in one place, each bad value one line saying what to do."""

from __future__ import annotations

import argparse
from pathlib import Path

from microbit_nn.errors import MbnnError

# the micro:bit's built-in images (microbit.Image attributes, on the V1 and the V2)
IMAGES = frozenset("""HEART HEART_SMALL HAPPY SMILE SAD CONFUSED ANGRY ASLEEP SURPRISED SILLY FABULOUS MEH YES NO
CLOCK12 CLOCK11 CLOCK10 CLOCK9 CLOCK8 CLOCK7 CLOCK6 CLOCK5 CLOCK4 CLOCK3 CLOCK2 CLOCK1 ARROW_N ARROW_NE ARROW_E
ARROW_SE ARROW_S ARROW_SW ARROW_W ARROW_NW TRIANGLE TRIANGLE_LEFT CHESSBOARD DIAMOND DIAMOND_SMALL SQUARE
SQUARE_SMALL RABBIT COW MUSIC_CROTCHET MUSIC_QUAVER MUSIC_QUAVERS PITCHFORK XMAS PACMAN TARGET TSHIRT ROLLERSKATE
DUCK HOUSE TORTOISE BUTTERFLY STICKFIGURE GHOST SWORD GIRAFFE SKULL UMBRELLA SNAKE""".split())


def icon_pair(text: str) -> tuple[str, str]:
    """argparse type of --icon: NAME=IMAGE, IMAGE a built-in image name or one ASCII character."""
    name, sep, image = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("%r: give NAME=IMAGE, e.g. --icon 'Not a spell=SKULL'" % text)
    if not (image in IMAGES or (len(image) == 1 and image.isascii() and image.isprintable() and image not in " ,'\"\\")):
        raise argparse.ArgumentTypeError("%r is not a micro:bit image: give one of HAPPY, HEART, SKULL, ... "
                                         "(the built-in images of microbit.Image) or one character" % image)
    return name, image


def add_options(p: argparse.ArgumentParser, program: bool = True) -> None:
    """--icon (and --program) on a command's parser."""
    p.add_argument("--icon", type=icon_pair, action="append", default=[], metavar="NAME=IMAGE",
                   help="show IMAGE (a micro:bit image name such as HEART, or one character) for gesture NAME "
                        "(repeatable; default: one chosen from the name, else its first letter)")
    if program:
        p.add_argument("--program", metavar="FILE.py",
                       help="your MicroPython program, run with the classifier: it may define on_start(name, "
                            "certainty), on_stop(name), on_prediction(name, certainty) (docs/program.md)")


def apply_icons(qm, pairs) -> None:
    """Sets the icons --icon asks for; MbnnError for a NAME that is not one of the model's gestures."""
    from microbit_nn.export.names import device_name

    for name, image in pairs:
        match = [i for i, c in enumerate(qm.classes) if name in (c, device_name(c))]
        if not match:
            raise MbnnError("--icon %r: the model has no gesture %r; its gestures: %s"
                            % ("%s=%s" % (name, image), name, ", ".join(qm.classes)))
        qm.icons[match[0]] = image


def read_program(path: str | None) -> str | None:
    """The program's source, checked (export/program.py); None without --program."""
    if path is None:
        return None
    from microbit_nn.export.program import check

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MbnnError("--program %s: no such file; write one with 'mbnn program MODEL -o %s'" % (path, path)) from None
    except (OSError, UnicodeError) as e:
        raise MbnnError("--program %s cannot be read (%s): give a UTF-8 text file" % (path, e)) from None
    return check(text, "--program %s" % path)


def load(args: argparse.Namespace):
    """(QModel with --icon applied, program source or None) from a command's arguments."""
    from microbit_nn.export.qmodel import load_model

    qm = load_model(args.model)
    apply_icons(qm, getattr(args, "icon", []))
    return qm, read_program(getattr(args, "program", None))


def name_mapping(qm) -> list[str]:
    """'real name -> device form' for each gesture whose device form differs."""
    from microbit_nn.export.names import device_name

    return ["%s -> %s" % (c, device_name(c)) for c in qm.classes if device_name(c) != c]

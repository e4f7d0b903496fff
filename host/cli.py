"""`mbnn`: the command table. Each command's work lives in its own module."""

from __future__ import annotations

import argparse
import sys
from typing import Iterable, Sequence

from microbit_nn.errors import MbnnError

# name -> (module under microbit_nn.host, one-line help), filled by host/commands.py.
# Modules expose `add_arguments(parser)` and `run(args) -> int`. A module is
# imported only when its command runs (or its --help is asked for), so that
# `mbnn --help` and the light commands never pay for torch or matplotlib.
COMMANDS: dict[str, tuple[str, str]] = {}


def register(name: str, module: str, help_text: str) -> None:
    """Add a subcommand implemented by `microbit_nn.host.<module>`."""
    COMMANDS[name] = (module, help_text)


def _import(module: str):
    import importlib

    return importlib.import_module(f"microbit_nn.host.{module}")


def chosen(argv: Sequence[str]) -> list[str]:
    """The command `argv` names (as a one-item list), or [] when it names none.

    The top-level parser has no options besides -h, so the first word that is
    not an option is the command."""
    for word in argv:
        if not word.startswith("-"):
            return [word] if word in COMMANDS else []
    return []


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The argparse parser: every registered command by name and help; the arguments
    of `commands` only (default: all), so only their modules are imported."""
    wanted = set(COMMANDS if commands is None else commands)
    parser = argparse.ArgumentParser(prog="mbnn", description="Train int8 gesture classifiers and run them on a BBC micro:bit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if name in wanted:
            _import(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mbnn` console script."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(chosen(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        return int(_import(args._module).run(args) or 0)
    except MbnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


import microbit_nn.host.commands  # noqa: E402,F401  (fills the command table)

if __name__ == "__main__":
    # `python -m microbit_nn.host.cli`: this file runs as __main__, but commands.py
    # filled the table of the module it imported, so run that module's main.
    from microbit_nn.host.cli import main as _main

    sys.exit(_main())

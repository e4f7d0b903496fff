"""`mbnn`: the command table. Each command's work lives in its own module."""

from __future__ import annotations

import argparse
import sys

from microbit_nn.errors import MbnnError

# name -> (module under microbit_nn.host, one-line help). Modules expose
# `add_arguments(parser)` and `run(args) -> int`; imported lazily so that
# `mbnn --help` stays fast (torch is slow to import).
COMMANDS: dict[str, tuple[str, str]] = {}


def register(name: str, module: str, help_text: str) -> None:
    """Add a subcommand implemented by `microbit_nn.host.<module>`."""
    COMMANDS[name] = (module, help_text)


def _import(module: str):
    import importlib

    return importlib.import_module(f"microbit_nn.host.{module}")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every registered command."""
    parser = argparse.ArgumentParser(prog="mbnn", description="Train int8 gesture classifiers and run them on a BBC micro:bit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        _import(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mbnn` console script."""
    parser = build_parser()
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
    sys.exit(main())

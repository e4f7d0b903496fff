"""host/cli.py: the command table, lazy loading of command modules, errors.

Oracles: the interpreter's own record of what it imported (`-X importtime`
and `sys.modules` in a fresh process), and the COMMANDS table.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from microbit_nn.host import cli

HEAVY = ("torch", "matplotlib", "numpy")
# `mbnn bench` builds its boot file with the exporter's minify at import (numpy);
# it imports nothing for the other commands.
IMPORTS_AT_HELP = {"bench": {"numpy"}}


def imported(*argv: str) -> tuple[set[str], subprocess.CompletedProcess]:
    """Top-level packages a fresh `python -m microbit_nn.host.cli ARGV` imported (-X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "microbit_nn.host.cli", *argv],
                          capture_output=True, text=True, timeout=120)
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "microbit_nn" in names, done.stderr[-500:]  # the importtime report was read
    return names, done


def test_help_imports_no_command_module():
    names, done = imported("--help")
    assert done.returncode == 0
    assert not names & set(HEAVY), names & set(HEAVY)
    for name in cli.COMMANDS:  # every command is listed, though none was imported
        assert f"    {name} " in done.stdout
    mods = subprocess.run([sys.executable, "-c", "import sys; from microbit_nn.host.cli import main\n"
                           "try:\n main(['--help'])\nexcept SystemExit:\n pass\n"
                           "print(sorted(m for m in sys.modules if m.startswith('microbit_nn.host.cmd_')))"],
                          capture_output=True, text=True, timeout=120)
    assert mods.stdout.strip().splitlines()[-1] == "[]", mods.stdout + mods.stderr


@pytest.mark.parametrize("argv", [["stream", "--help"], ["stream", "--port", "/nonexistent/mbnn-port", "--json"]])
def test_stream_is_light(argv):
    names, done = imported(*argv)
    assert not names & set(HEAVY), names & set(HEAVY)
    if "--help" in argv:
        assert done.returncode == 0 and "--reconnect" in done.stdout
    else:  # it ran: a clear error about the port, not a traceback
        assert done.returncode == 1 and done.stderr.splitlines()[-1].startswith("error: "), done.stderr[-500:]


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_command_parser_stays_light(name):
    """Building one command's parser imports its module only, and nothing heavy it does not declare."""
    code = ("import sys\nfrom microbit_nn.host.cli import build_parser\n"
            f"p = build_parser([{name!r}])\n"
            "print('LOADED', *sorted({m.split('.')[0] for m in sys.modules} |"
            " {m for m in sys.modules if m.startswith('microbit_nn.host.cmd_')}), flush=True)\n"
            f"p.parse_args([{name!r}, '--help'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]  # --help exits 0
    first, _, help_text = done.stdout.partition("\n")
    loaded = set(first.split()[1:])
    assert "usage: mbnn " + name in help_text
    assert loaded & set(HEAVY) == IMPORTS_AT_HELP.get(name, set())
    own = f"microbit_nn.host.{cli.COMMANDS[name][0]}"
    others = {m for m in loaded if m.startswith("microbit_nn.host.cmd_")} - {own}
    assert own in loaded
    # some commands reuse another's helpers (build/export: cmd_budget; selftest: cmd_replay)
    assert others <= {"microbit_nn.host.cmd_budget", "microbit_nn.host.cmd_replay"}, others


def test_chosen_finds_the_command_word():
    assert cli.chosen([]) == [] and cli.chosen(["--help"]) == [] and cli.chosen(["-h"]) == []
    assert cli.chosen(["stream", "--json"]) == ["stream"]
    assert cli.chosen(["-h", "train"]) == ["train"]
    assert cli.chosen(["nosuchcommand", "stream"]) == []


def test_full_parser_declares_every_command():
    parser = cli.build_parser()
    for name in cli.COMMANDS:  # every module's add_arguments works and -h parses
        with pytest.raises(SystemExit) as e:
            parser.parse_args([name, "--help"])
        assert e.value.code == 0


def test_lazy_parser_parses_like_the_full_one():
    argv = ["stream", "--json", "--count", "3", "--timeout", "2"]
    lazy = cli.build_parser(cli.chosen(argv)).parse_args(argv)
    full = cli.build_parser().parse_args(argv)
    assert vars(lazy) == vars(full) and lazy.count == 3 and lazy.json


def test_no_command_prints_help_and_unknown_command_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        cli.main(["nosuchcommand"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_errors_are_one_line(capsys):
    assert cli.main(["flash", "not-a-hex.txt"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1

"""Every ``swiftcast`` sub-command is a module of :mod:`swiftcast.commands` that loads nothing heavy until it runs:
``swiftcast --help`` imports none of them, and importing one does not import torch."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from swiftcast.cli import COMMANDS


def test_commands_import_without_torch() -> None:
    code = ("import importlib, sys\n"
            "from swiftcast.cli import COMMANDS\n"
            "for module, _ in COMMANDS.values():\n"
            "    importlib.import_module(module)\n"
            "print('torch' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "False"


def test_every_command_builds_its_parser() -> None:
    for name, (module_name, help_) in COMMANDS.items():
        assert module_name.startswith("swiftcast.commands."), name
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"swiftcast {name}", description=help_)
        module.add_arguments(parser)
        assert callable(module.main)
        assert parser.format_help().startswith(f"usage: swiftcast {name}")

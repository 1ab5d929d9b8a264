"""``visual-search`` command line: one module per command (``cmd_*.py``), shared options in
``common``, the parser and exit codes in ``entry``. The GUI and the CLI call the same engine
functions."""

from engine.cli.entry import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]

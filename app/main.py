"""The ``visual-search`` entry point: the GUI with no arguments or ``gui``, else the CLI."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--self-test"]:
        from engine.selftest import main as self_test

        return self_test()
    if not argv or argv[0] == "gui":
        if "-h" not in argv[1:] and "--help" not in argv[1:]:
            from app.startup import display_problem

            problem = display_problem()  # before Qt, which would abort the process instead
            if problem:
                print(f"visual-search: cannot open the window: {problem}", file=sys.stderr)
                return 1
        if sys.platform == "win32":  # before Qt: there the other order breaks DLL loading
            import contextlib

            with contextlib.suppress(ImportError):  # the light install runs ONNX Runtime
                import torch  # noqa: F401

        from app.launch import run

        return run(argv[1:])
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())

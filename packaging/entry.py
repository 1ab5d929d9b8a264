"""Entry point of the frozen app (PyInstaller): the same ``main`` as ``visual-search``."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    import torch  # noqa: F401  - before Qt (Windows DLL order)

    from app.main import main

    sys.exit(main())

"""PyInstaller runtime hook of the training bundle: import PyTorch before anything loads Qt.

On Windows the other order breaks DLL loading (app/main.py does the same before the window);
importing it first everywhere keeps one order on every platform. The standard bundle has no
PyTorch and no such hook.
"""

import torch  # noqa: F401

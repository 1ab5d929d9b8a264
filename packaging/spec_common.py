"""What both PyInstaller specs share (visual-search.spec, visual-search-train.spec): the data
files, the Qt files the window does not use, and the stripping of symbol tables.

Imported by the specs at build time (PyInstaller's own modules are importable then); not part
of the bundles.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

from PyInstaller.depend.bindepend import get_imports

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def datas() -> list[tuple[str, str]]:
    """Sample photos, icon, the codebook and the bundled default model (``model.onnx`` runs
    it; ``model.safetensors`` is its fingerprint, and what PyTorch loads)."""
    return [
        (os.path.join(ROOT, "resources", "samples", "*.jpg"), "resources/samples"),
        (os.path.join(ROOT, "packaging", "visual-search.png"), "resources/icons"),
        # the generic visual-word codebook of the local features
        (os.path.join(ROOT, "resources", "codebooks", "*.safetensors"), "resources/codebooks"),
    ] + [
        (f, "resources/models/default")
        for f in glob.glob(os.path.join(ROOT, "resources", "models", "default", "*"))
    ]


#: Python packages neither bundle wants: other Qt bindings, GUI toolkits, test and notebook
#: tooling, the SQL dialects other than SQLite
EXCLUDES_ALWAYS = [
    "PyQt5",
    "PyQt6",
    "PySide2",
    "tkinter",
    "_tkinter",
    "matplotlib",
    "IPython",
    "pytest",
    "pandas",
    "sqlalchemy.testing",
    "psycopg2",
    "MySQLdb",
    "pysqlite2",
    "sqlalchemy.dialects.mysql",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.oracle",
    "sqlalchemy.dialects.mssql",
]

# Files the PySide6 hooks collect that the window does not use (it imports QtCore, QtGui and
# QtWidgets only): destination paths matching one of these are left out.
_QT = r"PySide6/Qt/"
QT_UNUSED = [
    re.compile(p)
    for p in (
        _QT + r"translations/",  # Qt's own translations (the window's texts are English)
        _QT + r"plugins/platforms/lib(qeglfs|qlinuxfb|qminimalegl|qvnc|qvkkhrdisplay)\.so",
        _QT + r"plugins/egldeviceintegrations/",
        _QT + r"plugins/imageformats/(?!libqjpeg\.so)",  # the thumbnail cache is JPEG
        _QT + r"plugins/(generic|networkinformation|tls|sqldrivers|printsupport|qmltooling)/",
        _QT + r"plugins/platformthemes/libqgtk3\.so",  # it would pull in the system's GTK 3
        _QT + r"lib/libQt6(EglFSDeviceIntegration|EglFsKmsSupport|Network|Qml|Quick|Pdf|"
        r"VirtualKeyboard|Multimedia|WebEngine|Designer|Help|Sql|Test|OpenGLWidgets|Xml)\w*\.so",
    )
]


def _dest(entry) -> str:
    return entry[0].replace("\\", "/")


def _orphans(kept, dropped) -> set[str]:
    """System libraries (top level of the bundle) that only the dropped files link to: the
    dependency scan ran before the filter, so e.g. the GTK 3 theme plugin's GTK, Pango and
    Cairo would otherwise stay."""
    by_name = {os.path.basename(e[0]): e for e in list(kept) + list(dropped)}

    def closure(roots):
        seen, todo = set(), [e[1] for e in roots]
        while todo:
            for name, _path in get_imports(todo.pop()):
                e = by_name.get(os.path.basename(name))
                if e is not None and e[0] not in seen:
                    seen.add(e[0])
                    todo.append(e[1])
        return seen

    top = {e[0] for e in kept if "/" not in _dest(e)}
    candidates = (closure(dropped) & top) - {e[0] for e in dropped}
    roots = [e for e in kept if e[0] not in candidates]
    return candidates - closure(roots)


def drop_unused(a, extra_patterns=()) -> None:
    """Leave out of Analysis ``a`` the unused Qt files (and ``extra_patterns``), and the system
    libraries only they needed."""
    patterns = QT_UNUSED + [re.compile(p) for p in extra_patterns]

    def unused(e):
        return any(p.search(_dest(e)) for p in patterns)

    drop_bin = [e for e in a.binaries if unused(e)]
    keep_bin = [e for e in a.binaries if not unused(e)]
    lonely = _orphans(keep_bin, drop_bin)
    a.binaries = [e for e in keep_bin if e[0] not in lonely]
    n_data = len(a.datas)
    a.datas = [e for e in a.datas if not unused(e)]
    print(
        f"spec: left out {len(drop_bin)} Qt libraries and plugins, {n_data - len(a.datas)} "
        f"Qt translations, {len(lonely)} system libraries only they needed: "
        f"{' '.join(sorted(lonely))}"
    )


def _patched_by_auditwheel(dest: str, src: str) -> bool:
    """Libraries that auditwheel rewrote with patchelf (the wheels' ``*.libs/`` folders,
    extension modules with an RPATH into them): ``strip`` breaks those ("ELF load command
    address/offset not page-aligned"), as PyInstaller's global ``strip=True`` does to NumPy's
    OpenBLAS."""
    if re.search(r"\.libs/", dest.replace("\\", "/")):
        return True
    out = subprocess.run(["readelf", "-d", src], capture_output=True, text=True).stdout
    return "(RPATH)" in out


def strip_symbols(a, workpath: str) -> None:
    """Swap every unstripped ELF library of ``a`` that is safe to strip for a stripped copy
    (libpython, ICU, PIL, the SQLAlchemy and greenlet extensions... ship symbol tables).
    ``VISUAL_SEARCH_STRIP=0`` keeps them (for debugging a crash)."""
    if os.environ.get("VISUAL_SEARCH_STRIP", "1") == "0":
        return
    if not all(shutil.which(t) for t in ("strip", "readelf", "file")):
        print("spec: strip, readelf or file missing: symbol tables kept")
        return
    out, saved = [], 0
    for dest, src, kind in a.binaries:
        if kind == "BINARY" or ".so" in os.path.basename(dest):
            info = subprocess.run(["file", "-L", src], capture_output=True, text=True).stdout
            if "ELF" in info and "not stripped" in info and not _patched_by_auditwheel(dest, src):
                copy = os.path.join(workpath, "stripped", dest)
                os.makedirs(os.path.dirname(copy), exist_ok=True)
                shutil.copy2(src, copy)
                subprocess.run(["strip", "--strip-unneeded", copy], check=True)
                saved += os.path.getsize(src) - os.path.getsize(copy)
                src = copy
        out.append((dest, src, kind))
    a.binaries = out
    print(f"spec: stripping symbol tables saved {saved / 1e6:.0f} MB")

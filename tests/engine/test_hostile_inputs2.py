"""Hostile files, round 2, through the command line: FIFOs, devices and sockets where a file is
expected (refused before a byte is read, never a hang), nesting that would exhaust the
parser's recursion, malformed plain data in ground truth, configs and codebooks, codebooks of
odd dtypes, names with bidi and control characters, and error lines that would run to pages.
Each is one line naming the file and the reason, with the exit code of bad input."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.entry import EXIT_BAD_INPUT, main

MODEL = "gem:resnet18"


def _photo(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "internal error" not in err[0]
    assert len(err[0]) <= 500
    return err[0]


def _main_within(argv: list[str], seconds: float = 60) -> int:
    """``main(argv)`` on a thread; a command still running after ``seconds`` fails the test
    (it would hang on a FIFO for ever)."""
    result: list = []

    def target():
        try:
            result.append(main(argv))
        except BaseException as e:  # reported below, with the command
            result.append(e)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"hung: {argv}"
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


@pytest.fixture
def fifo(tmp_path):
    """A FIFO with no writer; on teardown a writer opens and closes it, so a reader stuck in
    it (the old code) gets end-of-file and its thread ends."""
    made: list[Path] = []

    def make(name: str) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(p)
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass


def _gnd(path: Path, imlist=("a",), qimlist=("q",), gnd=None) -> Path:
    if gnd is None:
        gnd = [{"bbx": None, "easy": np.array([0]), "hard": [], "junk": []} for _ in qimlist]
    path.write_bytes(
        pickle.dumps({"imlist": list(imlist), "qimlist": list(qimlist), "gnd": gnd}, protocol=4)
    )
    return path


def _class_folders(root: Path) -> Path:
    for c in range(2):
        for i in range(2):
            _photo(root / f"c{c}" / f"{i}.jpg", seed=10 * c + i)
    return root


# ------------------------------------------------------------------ FIFOs, devices, sockets


def test_a_fifo_as_gnd_is_refused_not_read(tmp_path, fifo, capsys):
    gnd = fifo("gnd_x.pkl")
    argv = ["evaluate", "--gnd", str(gnd), "--images", str(tmp_path), "--model", MODEL]
    assert _main_within(argv) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(gnd) in line and "a named pipe (FIFO), not a regular file" in line


def test_a_fifo_as_exclusion_list_is_refused_not_read(tmp_path, fifo, capsys):
    data = _class_folders(tmp_path / "set")
    excl = fifo("exclude.txt")
    argv = ["train", str(data), "--exclude-classes", str(excl), "--out", str(tmp_path / "run")]
    assert _main_within([*argv, "--method", "gem", "--backbone", "resnet18"]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(excl) in line and "named pipe" in line
    assert not (tmp_path / "run").exists()


def test_a_fifo_as_audit_eval_is_refused_not_read(tmp_path, fifo, capsys):
    data = _class_folders(tmp_path / "set")
    gnd = fifo("gnd_y.pkl")
    argv = ["audit", "--train", str(data), "--eval", str(gnd), "--model", MODEL]
    assert _main_within(argv) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(gnd) in line and "a named pipe (FIFO), not a regular file" in line


def test_a_fifo_as_gldv2_csv_is_refused_not_read(tmp_path, fifo, capsys):
    csv = fifo("train.csv")
    (tmp_path / "train").mkdir()
    assert _main_within(["train", str(csv), "--out", str(tmp_path / "run")]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(csv) in line and "named pipe" in line


def test_a_fifo_as_codebook_is_refused_not_read(fifo, capsys):
    book = fifo("book.safetensors")
    assert _main_within(["codebook", "info", str(book)]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(book) in line and "named pipe" in line


@pytest.mark.parametrize("which", ["config.json", "model.safetensors"])
def test_a_fifo_inside_a_checkpoint_is_refused_not_read(tmp_path, fifo, capsys, which):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cfg = {"format": "visual-search-checkpoint", "architecture": "gem", "backbone": "resnet18"}
    for name in ("config.json", "model.safetensors"):
        if name == which:
            fifo(f"ckpt/{name}")
        else:
            (ckpt / name).write_text(json.dumps(cfg))
    photo = _photo(tmp_path / "p.jpg")
    assert _main_within(["embed", str(photo), "--model", str(ckpt)]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(ckpt / which) in line and "named pipe" in line


def test_a_fifo_as_training_state_is_refused_not_read(tmp_path, fifo, capsys):
    data = _class_folders(tmp_path / "set")
    state = fifo("run/state.json")
    (tmp_path / "run" / "state.safetensors").write_bytes(b"")
    argv = ["train", str(data), "--out", str(tmp_path / "run"), "--resume", "--epochs", "1"]
    argv += ["--method", "gem", "--backbone", "resnet18", "--pretrained", "none"]
    argv += ["--workers", "0", "--image-size", "64", "--batch-size", "2"]
    assert _main_within(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()  # after train's "data: ..." line
    assert len(err) == 2 and err[0].startswith("data:"), err
    assert str(state) in err[1] and "a named pipe (FIFO), not a regular file" in err[1]


def test_a_device_as_gnd_is_refused_not_read(tmp_path, capsys):
    argv = ["evaluate", "--gnd", "/dev/zero", "--images", str(tmp_path), "--model", MODEL]
    assert _main_within(argv) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert "/dev/zero" in line and "character device" in line


def test_a_socket_as_codebook_is_refused(tmp_path, capsys):
    path = tmp_path / "book.safetensors"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
        assert _main_within(["codebook", "info", str(path)]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(path) in line and "a socket, not a regular file" in line


def test_a_fifo_as_query_photo_is_refused_not_read(fifo, capsys):
    photo = fifo("q.jpg")
    assert _main_within(["embed", str(photo), "--model", MODEL]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(photo) in line and "not a regular file" in line


# ------------------------------------------------------------------ nesting


def test_a_model_stamps_file_nested_10000_deep_does_not_break_index(tmp_path, capsys):
    """``model-stamps.json`` is a cache beside the library: one nested beyond any sense is
    ignored and rewritten, and ``index`` goes on."""
    photos = tmp_path / "photos"
    for i in range(2):
        _photo(photos / f"{i}.jpg", seed=i)
    library = str(tmp_path / "library")
    assert main(["index", str(photos), "--library", library]) == 0
    stamps = tmp_path / "library" / "index" / "model-stamps.json"
    assert stamps.is_file()
    stamps.write_text("[" * 10_000 + "]" * 10_000)
    _photo(photos / "2.jpg", seed=2)
    capsys.readouterr()
    assert main(["index", str(photos), "--library", library]) == 0, capsys.readouterr().err
    assert "indexed 1" in capsys.readouterr().out
    assert json.loads(stamps.read_text())  # rewritten by the load it caused


def test_fifos_in_place_of_a_librarys_caches_are_rebuilt_not_read(tmp_path, capsys):
    """Every file beside the database is a cache: one replaced by a FIFO is damaged, so it is
    rebuilt from the database, and the search answers."""
    photos = tmp_path / "photos"
    for i in range(2):
        _photo(photos / f"{i}.jpg", seed=i)
    library = str(tmp_path / "library")
    assert main(["index", str(photos), "--library", library]) == 0
    caches = sorted((tmp_path / "library" / "index").iterdir())
    assert {p.suffix for p in caches} >= {".json", ".arrays"}, caches
    for p in caches:
        p.unlink()
        os.mkfifo(p)
    try:
        argv = ["search", str(photos / "0.jpg"), "--library", library, "--json"]
        assert _main_within(argv) == 0
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["results"]
    finally:  # a reader stuck in one (the old code) gets end-of-file
        for p in caches:
            if p.is_fifo():
                with contextlib.suppress(OSError):
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("where", ["checkpoint_extra", "gnd"])
def test_json_and_pickles_nested_deeper_than_the_stack_are_refused(tmp_path, where):
    from engine.errors import VisualSearchError
    from engine.evaluation.revisitop import load_ground_truth
    from engine.network.files import checkpoint_extra

    if where == "checkpoint_extra":  # how a model was trained: missing when unreadable
        (tmp_path / "config.json").write_text('{"extra": ' + "[" * 100_000 + "]" * 100_000 + "}")
        assert checkpoint_extra(tmp_path) == {}
        return
    # {"imlist": [[[[...]]]], "qimlist": [], "gnd": []}, 100,000 lists deep, pickled by hand
    # (pickle.dumps itself recurses): EMPTY_LIST 100,001 times, then as many APPENDs
    n = 100_000
    deep = b"]" * (n + 1) + b"a" * n
    body = b"\x8c\x06imlist" + deep + b"\x8c\x07qimlist]\x8c\x03gnd]"
    gnd = tmp_path / "gnd_deep.pkl"
    gnd.write_bytes(b"\x80\x04}(" + body + b"u.")
    with pytest.raises(VisualSearchError, match="imlist must be a list of image names"):
        load_ground_truth(gnd)


# ------------------------------------------------------------------ malformed plain data


class _ObjectBomb:
    """Unpickles as an object array of 10^12 slots (8 TB of pointers), declared in the
    array's state after a small one is made: allocated, and filled, were it allowed."""

    def __reduce__(self):
        from numpy.core.multiarray import _reconstruct

        state = (1, (10**6, 10**6), np.dtype("O"), False, [])
        return (_reconstruct, (np.ndarray, (0,), b"b"), state)


@pytest.mark.parametrize(
    "gnd, reason",
    [
        ({"imlist": 5, "qimlist": [], "gnd": []}, "imlist"),
        ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": "abc"}]}, "gnd[0].easy"),
        ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [[0], [0, 0]]}]}, "gnd[0].easy"),
        ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [0], "bbx": "abcd"}]}, "bbx"),
        ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [1e300]}]}, "gnd[0].easy"),
        ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [0], "bbx": [1, 2, {}, 4]}]}, "bbx"),
        ({"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": _ObjectBomb()}]}, "refused"),
    ],
    ids=["imlist-int", "easy-str", "easy-ragged", "bbx-str", "easy-huge", "bbx-dict", "bomb"],
)
def test_malformed_ground_truth_is_one_line(tmp_path, capsys, gnd, reason):
    path = tmp_path / "gnd_bad.pkl"
    path.write_bytes(pickle.dumps(gnd, protocol=4))
    argv = ["evaluate", "--gnd", str(path), "--images", str(tmp_path), "--model", MODEL]
    assert main(argv) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(path) in line and reason in line


def _bundled_copy(tmp_path, **fields) -> Path:
    """The bundled model (real weights and ONNX graph) with ``fields`` of its config changed."""
    import shutil

    from resources import resource_path

    d = tmp_path / "ckpt"
    shutil.copytree(resource_path("models", "default"), d)
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(fields)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


@pytest.mark.parametrize(
    "command, fields, reason",
    [
        ("embed", {"arch_params": [1, 2]}, "arch_params must be an object"),
        ("embed", {"mean": ["a", "b", "c"]}, "mean must be three numbers"),
        ("embed", {"std": [0.2, float("nan"), 0.2]}, "std must be a finite number"),
        ("embed", {"architecture": 5}, "architecture must be a name"),
        ("export", {"arch_params": {"gem_p": "three"}}, "arch_params must be an object"),
    ],
    ids=["arch_params-list", "mean-text", "std-nan", "architecture-number", "gem_p-text"],
)
def test_malformed_checkpoint_configs_are_one_line(tmp_path, capsys, command, fields, reason):
    ckpt = _bundled_copy(tmp_path, **fields)
    photo = _photo(tmp_path / "p.jpg")
    argv = ["embed", str(photo)] if command == "embed" else ["export"]
    argv += ["--model", str(ckpt)] if command == "embed" else [str(ckpt), str(tmp_path / "out")]
    assert main(argv) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(ckpt / "config.json") in line and reason in line


def _book(path: Path, centroids, **meta) -> Path:
    from safetensors.numpy import save_file

    save_file(
        {"centroids": centroids}, str(path), metadata={"format": "visual-search-codebook", **meta}
    )
    return path


@pytest.mark.parametrize(
    "centroids, meta, reason",
    [
        (np.zeros((4, 128), np.float32), {"version": "one"}, "version 'one' is not a number"),
        (np.zeros((4, 128), np.float32), {"version": "9" * 5000}, "is not a number"),
        (np.zeros((4,), np.float32), {}, "shape (4,)"),
        (np.zeros((4, 128, 1), np.float32), {}, "shape (4, 128, 1)"),
        (np.ones((4, 128), np.float16), {}, "stored as F16"),
        (np.ones((4, 128), np.int32), {}, "stored as I32"),
        (np.ones((4, 128), np.float64), {}, "stored as F64"),
        (np.ones((4, 128), np.bool_), {}, "stored as BOOL"),
    ],
    ids=["version-word", "version-huge", "1d", "3d", "float16", "int32", "float64", "bool"],
)
def test_malformed_and_odd_dtype_codebooks_are_one_line(tmp_path, capsys, centroids, meta, reason):
    book = _book(tmp_path / "book.safetensors", centroids, **meta)
    assert main(["codebook", "info", str(book)]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(book) in line and reason in line


@pytest.mark.parametrize("dtype", [np.int64, np.complex64, object, np.bool_, "U4"])
def test_codebooks_of_non_real_centroids_are_refused(dtype):
    from engine.match.codebook import Codebook, CodebookError

    c = np.ones((4, 128)).astype(dtype)
    with pytest.raises(CodebookError, match="must be real numbers"):
        Codebook(c)


def test_float16_and_float64_centroids_are_converted_to_float32():
    from engine.match.codebook import Codebook

    rng = np.random.default_rng(0)
    c = rng.normal(size=(4, 128))
    for dtype in (np.float16, np.float64):
        book = Codebook(c.astype(dtype))
        assert book.centroids.dtype == np.float32
        assert np.allclose(book.centroids, c.astype(dtype), atol=1e-3)


# ------------------------------------------------------------------ what is printed


@pytest.mark.parametrize(
    "char, escaped",
    [("\u202e", "\\u202e"), ("\u2066", "\\u2066"), ("\u200b", "\\u200b"), ("\x1b", "\\x1b")],
)
def test_bidi_and_control_characters_in_names_are_escaped(tmp_path, capsys, char, escaped):
    book = tmp_path / f"evil{char}gpj.safetensors"
    book.write_bytes(b"not a codebook")
    assert main(["codebook", "info", str(book)]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert char not in line and f"evil{escaped}gpj" in line


def test_names_in_normal_output_are_escaped(tmp_path, capsys):
    from engine.match.codebook import Codebook

    rng = np.random.default_rng(0)
    out = tmp_path / "b\u202egpj.safetensors"
    Codebook(rng.normal(size=(4, 128)), {"source": "x\u202ey\x1b[2J"}).save(out)
    assert main(["codebook", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "\u202e" not in text and "\x1b" not in text and "x\\u202ey\\x1b[2J" in text


def test_an_error_line_is_at_most_500_characters(tmp_path, capsys):
    """A codebook named by a 4,000-character path (nested folders): the line is cut."""
    d = tmp_path
    for _ in range(40):
        d = d / ("d" * 99)
    d.mkdir(parents=True)
    book = d / "book.safetensors"
    book.write_bytes(b"x")
    assert main(["codebook", "info", str(book)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err.rstrip("\n")) == 500 and err.rstrip().endswith("…")


def test_an_internal_error_line_is_at_most_500_characters(monkeypatch, capsys):
    from engine.cli import cmd_codebook

    def boom(args):
        raise RuntimeError("x" * 500_000)

    monkeypatch.setattr(cmd_codebook, "run", boom)
    monkeypatch.delenv("VISUAL_SEARCH_DEBUG", raising=False)
    assert main(["codebook", "info"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) == 501 and "xxx…" in err
    assert err.rstrip().endswith("(set VISUAL_SEARCH_DEBUG=1 for the traceback)")


def test_the_checked_open_bounds_size_and_follows_links_to_what_it_refuses(tmp_path, fifo):
    from engine.errors import InputFileError
    from engine.inputs import load_json, read_bytes

    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * 100 + b"0]")
    with pytest.raises(InputFileError, match=r"big\.json: too large \(203 bytes, at most 100\)"):
        read_bytes(big, 100)
    assert load_json(big) == [0] * 101
    link = tmp_path / "link.json"
    link.symlink_to(fifo("pipe.json"))
    with pytest.raises(InputFileError, match=r"link\.json: a named pipe \(FIFO\)"):
        load_json(link)
    with pytest.raises(InputFileError, match="a folder, not a regular file"):
        read_bytes(tmp_path)


def test_a_pickled_dtype_numpy_would_crash_on_is_refused(tmp_path):
    """An int64 array whose dtype was changed to a datetime without its state (``m8``): numpy's
    ``dtype.__setstate__`` dereferences the missing metadata and the process dies (SIGSEGV).
    Run in a fresh interpreter, so the old code's crash fails the test and not the run."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    entry = {"bbx": None, "easy": np.array([0, 1]), "hard": np.array([1]), "junk": []}
    good = pickle.dumps({"imlist": ["a", "b"], "qimlist": ["q"], "gnd": [entry]}, protocol=4)
    assert good.count(b"\x8c\x02i8") == 1
    gnd = tmp_path / "gnd_m8.pkl"
    gnd.write_bytes(good.replace(b"\x8c\x02i8", b"\x8c\x02m8"))
    code = "import sys; from engine.cli.entry import main; sys.exit(main(sys.argv[1:]))"
    argv = ["evaluate", "--gnd", str(gnd), "--images", str(tmp_path), "--model", MODEL]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == EXIT_BAD_INPUT, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.count("\n") == 1 and "refused an array of 'm8'" in proc.stderr


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_plain_numpy_arrays_of_every_plain_kind_still_load(protocol):
    from engine.evaluation.revisitop import safe_load_pickle

    arrays = [
        np.arange(5, dtype=np.int64),
        np.arange(6, dtype=">i4").reshape(2, 3),
        np.linspace(0, 1, 4, dtype=np.float32),
        np.array([True, False]),
        np.array(["ab", "c"]),
        np.zeros((0,), np.float64),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.float64(2.5),
    ]
    data = pickle.dumps(arrays, protocol=protocol)
    back = safe_load_pickle(data)
    for a, b, ref in zip(arrays, back, pickle.loads(data), strict=True):  # our own bytes
        assert np.asarray(b).dtype == np.asarray(ref).dtype and np.array_equal(b, a)


def test_a_photo_header_a_pillow_plugin_rejects_with_its_own_error_is_one_line(tmp_path, capsys):
    """An SGI header of 7 channels: Pillow's plugin raises ValueError, not the OSError of a
    damaged file (found by the fuzz)."""
    import struct

    photo = tmp_path / "odd.sgi"
    photo.write_bytes(struct.pack(">hBBHHHH", 474, 0, 1, 3, 8, 8, 7).ljust(512, b"\0"))
    assert main(["embed", str(photo), "--model", MODEL]) == EXIT_BAD_INPUT
    line = _one_error_line(capsys)
    assert str(photo) in line and "damaged image header" in line


def test_a_pickle_memo_index_in_the_billions_is_refused_before_it_is_allocated(tmp_path):
    """``LONG_BINPUT 2490982770``: the C unpickler would grow and zero a memo of 20 GB (the
    fuzz's run was killed by the kernel). Here in a fresh interpreter held to 4 GB of address
    space, where the old code's attempt ends in a MemoryError instead of the refusal."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    good = pickle.dumps({"imlist": ["a"], "qimlist": [], "gnd": []}, protocol=4)
    bad = good.replace(b"\x94", b"r\x72\x1e\x79\x94", 1)  # MEMOIZE -> LONG_BINPUT 0x94791e72
    gnd = tmp_path / "gnd_memo.pkl"
    gnd.write_bytes(bad.replace(good[2:11], b"\x95" + (len(bad) - 11).to_bytes(8, "little")))
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
        "from engine.cli.entry import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = ["evaluate", "--gnd", str(gnd), "--images", str(tmp_path), "--model", MODEL]
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == EXIT_BAD_INPUT, (proc.returncode, proc.stderr[-2000:])
    assert "LONG_BINPUT 2490965618: a memo index past the data" in proc.stderr

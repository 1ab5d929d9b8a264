"""Unpickling a user's file as plain data only: builtin containers, numbers, strings and
numpy arrays of numbers, allocating nothing larger than the file itself.

Ground-truth files are pickles that users download, so nothing here trusts them: the opcodes
are walked first in Python (``pickletools``: a length past the end of the data, or a memo
index larger than the file, is refused before the C unpickler allocates it), only the names
of ``_ALLOWED`` are found, and what numpy would build from a number or a state is checked
here first. A dtype is never built from a pickled state by numpy (a damaged dtype state
crashes numpy's ``dtype.__setstate__``): it is a ``_Dtype`` of numbers, bools or text whose
byte order alone is read from its state.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import warnings

import numpy as np

from engine.errors import VisualSearchError

_ALLOWED = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "str"),
    ("builtins", "bytes"),
    ("builtins", "bool"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
#: opcodes that name a memo slot: a sane pickle has fewer slots than bytes
_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"}
#: dtype kinds an array may hold: bool, integers, floats, complex, text and bytes
_KINDS = "biufcUS"


class PickleRefused(VisualSearchError):
    """A pickle that is not plain data, or would allocate more than it holds."""


class _Dtype:
    """``numpy.dtype(spec, align, copy)`` as a pickle names it, made real only for plain kinds;
    its pickled state ``(version, byteorder, subarray, names, fields, ...)`` is read here."""

    def __init__(self, spec=None, align=False, copy=False) -> None:
        dtype = np.dtype(spec) if isinstance(spec, str) and len(spec) <= 8 else None
        if dtype is None or dtype.kind not in _KINDS or dtype.fields or dtype.subdtype:
            raise PickleRefused(f"refused an array of {spec!r} (only plain numbers and text)")
        self.dtype = dtype

    def __setstate__(self, state) -> None:
        order = state[1] if isinstance(state, tuple) and len(state) >= 5 else None
        if order not in ("<", ">", "|", "=") or any(x is not None for x in state[2:5]):
            raise PickleRefused("refused a damaged or structured dtype")
        if order in "<>" and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(order)


def _real(dtype) -> np.dtype:
    """The numpy dtype a pickle's argument stands for (a ``_Dtype``, or a code such as
    ``b'b'``, the placeholder ``ndarray.__reduce__`` writes)."""
    if isinstance(dtype, _Dtype):
        return dtype.dtype
    return _Dtype(dtype.decode("latin1") if isinstance(dtype, bytes) else dtype).dtype


class _Unpickler(pickle.Unpickler):
    """Admits ``_ALLOWED`` only; the constructors that allocate from a number (``bytes(n)``,
    an array of a given shape) are wrapped so that nothing larger than the file itself (the
    most plain data it can hold) is allocated."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="latin1")
        self.limit = max(len(data), 1 << 16)

    def _limit(self, nbytes: int, what: str) -> None:
        if nbytes > self.limit:
            raise PickleRefused(
                f"refused {what}: it would allocate {nbytes:,} bytes, more than the file "
                "holds (only plain data is allowed)"
            )

    def _check(self, shape, dtype: np.dtype) -> None:
        dims = (shape,) if isinstance(shape, int) else shape
        if not isinstance(dims, tuple) or not all(isinstance(d, int) and d >= 0 for d in dims):
            raise PickleRefused(f"refused an array of shape {shape!r}")
        self._limit(math.prod(dims) * dtype.itemsize, f"an array of {shape!r}")

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise PickleRefused(f"refused to load {module}.{name} (only plain data is allowed)")
        found = super().find_class(module, name)
        special = {
            bytes: self._bytes,
            np.dtype: _Dtype,
            np.ndarray: self._array,
            "_reconstruct": self._reconstruct,
            "scalar": lambda dtype, *data: found(_real(dtype), *data),
            "_frombuffer": _frombuffer_copy,
        }
        return special.get(found if found in (bytes, np.dtype, np.ndarray) else name, found)

    def _bytes(self, *args):
        if args and isinstance(args[0], int):
            self._limit(args[0], f"bytes({args[0]})")
        return bytes(*args)

    def _array(self, shape=(), dtype=float, *args):
        dtype = np.dtype(float) if dtype is float else _real(dtype)
        self._check(shape, dtype)
        return np.ndarray(shape, dtype, *args)

    def _reconstruct(self, subtype, shape, dtype):
        """``ndarray.__reduce__``'s empty array; its real shape and dtype come in its state,
        checked before numpy allocates them."""
        unpickler = self
        self._check(shape, _real(dtype))

        class Guarded(np.ndarray):
            def __setstate__(self, state):
                if not isinstance(state, tuple) or len(state) not in (4, 5):
                    raise PickleRefused("refused a damaged array")
                state = list(state)
                at = len(state) - 4  # (version,) shape, dtype, is_fortran, data
                state[at + 1] = _real(state[at + 1])
                unpickler._check(state[at], state[at + 1])
                super().__setstate__(tuple(state))

        return np.ndarray.__new__(Guarded, shape, _real(dtype))


def _frombuffer_copy(buf, dtype, shape, order="C") -> np.ndarray:
    """numpy's ``_frombuffer`` (protocol 5 arrays) on a copy of ``buf``: the array holds no
    view of a buffer the unpickler made, whatever a damaged pickle does with it next."""
    return np.frombuffer(bytes(buf), dtype=_real(dtype)).reshape(shape, order=order)


def load_plain(data: bytes) -> object:
    """Unpickle ``data`` as plain data (see the module); raises ``PickleRefused`` for what is
    not, and the unpickler's own errors for a damaged file."""
    data = bytes(data)
    # what numpy or pickletools would warn about a damaged file is not the user's to read:
    # the data is checked after loading
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for op, arg, _ in pickletools.genops(data):
                # the C unpickler grows its memo to the index it is given, zeroing it all
                if op.name in _MEMO_OPS and isinstance(arg, int) and arg > len(data):
                    raise ValueError(f"{op.name} {arg}: a memo index past the data")
        except ValueError as e:
            raise PickleRefused(f"not a readable pickle ({str(e)[:120]})") from None
        return _Unpickler(data).load()

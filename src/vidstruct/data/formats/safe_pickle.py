"""Read pickles that may come from anyone, admitting only numpy arrays, numbers, strings and plain containers.

A pickle is a program: unpickling calls whatever global the file names
(``os.system``, ``builtins.eval``, ``subprocess.Popen``...), so a downloaded
results or annotation pickle must never go through :func:`pickle.load`.
:func:`load_restricted_pickle` uses an unpickler whose ``find_class`` resolves
a fixed allow-list instead of importing the named module:

- numpy's array and scalar reconstruction (``_reconstruct``, ``scalar``,
  ``_frombuffer``) under both the numpy 1.x (``numpy.core.*``) and the 2.x
  (``numpy._core.*``) module paths, resolved to the installed numpy's functions;
- ``numpy.ndarray``, ``numpy.dtype`` and numpy's scalar types (``numpy.float32``...);
- the builtins that plain data needs: ``list``, ``dict``, ``tuple``, ``set``,
  ``frozenset``, ``str``, ``bytes``, ``bytearray``, ``int``, ``float``, ``bool``,
  ``complex`` (also under the Python 2 name ``__builtin__``), ``_codecs.encode``
  (how protocol-2 pickles store bytes) and ``collections.OrderedDict``.

Anything else is refused with an :class:`~vidstruct.errors.AnnotationError`
naming the file and the global, before it is imported or called. pandas
objects are refused too (a DataFrame pickle reconstructs pandas internals);
the message says how to convert one. A truncated file or one that is not a
pickle is a one-line ``AnnotationError`` as well.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from vidstruct.errors import AnnotationError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

__all__ = ["load_restricted_pickle", "loads_restricted_pickle", "numpy_globals"]

_NUMPY_FUNCTIONS: dict[str, Any] = {
    "multiarray._reconstruct": _multiarray._reconstruct,
    "multiarray.scalar": _multiarray.scalar,
    "numeric._frombuffer": _numeric._frombuffer,
}
_BUILTINS: dict[str, Any] = {
    t.__name__: t for t in (list, dict, tuple, set, frozenset, str, bytes, bytearray, int, float, bool, complex)
}
_OTHER: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("_codecs").encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


def numpy_globals() -> list[Any]:
    """The numpy objects this allow-list admits (reconstruction functions, ``ndarray``, ``dtype`` and its
    per-type classes), for ``torch.serialization.safe_globals`` so ``.pt`` files share the allow-list."""
    import numpy.dtypes

    dtype_classes = [getattr(numpy.dtypes, n) for n in numpy.dtypes.__all__]
    return list(_NUMPY_FUNCTIONS.values()) + [np.ndarray, np.dtype] + [t for t in dtype_classes if isinstance(t, type)]


def _allowed(module: str, name: str) -> Any | None:
    """The object a pickle may reference as ``module.name``, or ``None`` if it is not admitted."""
    if (module, name) in _OTHER:
        return _OTHER[(module, name)]
    if module in ("builtins", "__builtin__"):
        return _BUILTINS.get(name)
    for prefix in ("numpy.core.", "numpy._core."):
        if module.startswith(prefix):
            return _NUMPY_FUNCTIONS.get(f"{module[len(prefix) :]}.{name}")
    if module == "numpy":
        scalar_type = getattr(np, name, None) if not name.startswith("_") else None
        if isinstance(scalar_type, type) and issubclass(scalar_type, np.generic):
            return scalar_type
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _allowed(module, name)
        if obj is not None:
            return obj
        hint = ""
        if module.split(".")[0] == "pandas":
            hint = (
                "; a pandas DataFrame pickle cannot be read without pandas' own unpickler, which can run code: "
                "save the table as CSV (DataFrame.to_csv) or as a dict of columns "
                "(DataFrame.reset_index().to_dict('list'))"
            )
        raise AnnotationError(
            f"{self._source}: refused to load global {module}.{name} from the pickle (only numpy arrays, numbers, "
            f"strings and lists / dicts / tuples / sets are admitted){hint}"
        )


_UNREADABLE = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    OverflowError,
    UnicodeDecodeError,
)


def loads_restricted_pickle(data: bytes, source: str = "<bytes>") -> object:
    """Unpickle ``data`` with the allow-list above; ``source`` names it in errors."""
    import io

    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except _UNREADABLE as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AnnotationError(f"{source}: not a readable pickle (truncated or another format): {reason}") from None


def load_restricted_pickle(path: str | Path) -> object:
    """Unpickle the file at ``path`` admitting only numpy arrays / scalars and plain containers.

    Raises :class:`~vidstruct.errors.AnnotationError` for a missing file, a
    refused global (naming it) and a truncated or non-pickle file.
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"{path}: file not found")
    return loads_restricted_pickle(p.read_bytes(), str(path))

"""Read ``.npy`` headers without loading data (or NumPy); write ``.npy`` bytes; hash files.

Planning checks every shard's header before a job starts, so reading one must not import NumPy
(a fifth of a second of ``trn run``). The format is NumPy's own: a magic string, a version, a
header length, then a Python dict literal (``descr``, ``fortran_order``, ``shape``).
"""

from __future__ import annotations

import ast
import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

CHUNK = 1 << 22
MAGIC = b"\x93NUMPY"
# the names trn's indexes use, as NumPy spells them stored little-endian (storage_dtype)
_DESCR = {
    "bool": "|b1",
    "int8": "|i1",
    "uint8": "|u1",
    "int16": "<i2",
    "uint16": "<u2",
    "int32": "<i4",
    "uint32": "<u4",
    "int64": "<i8",
    "uint64": "<u8",
    "float16": "<f2",
    "float32": "<f4",
    "float64": "<f8",
}


@dataclass(frozen=True)
class Header:
    descr: str  # NumPy's dtype string, e.g. ``<f4``
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def data_bytes(self) -> int:
        count = 1
        for n in self.shape:
            count *= n
        return count * int(self.descr[2:])


def read_header(path: Path) -> Header:
    """The header of a ``.npy`` file; raises ValueError when it is not one trn can read (a
    plain dtype: not a record, not an object array)."""
    with open(path, "rb") as f:
        lead = f.read(len(MAGIC) + 2)
        if len(lead) < len(MAGIC) + 2 or lead[: len(MAGIC)] != MAGIC:
            raise ValueError("no .npy magic string")
        version = (lead[-2], lead[-1])
        if version == (1, 0):
            (length,) = struct.unpack("<H", f.read(2))
        elif version in ((2, 0), (3, 0)):
            (length,) = struct.unpack("<I", f.read(4))
        else:
            raise ValueError(f"unsupported .npy version {version}")
        text = f.read(length)
        if len(text) != length:
            raise ValueError("the header is cut short")
        return _parse(text.decode("utf-8" if version == (3, 0) else "latin1"), f.tell())


def _parse(text: str, offset: int) -> Header:
    try:
        # literal_eval builds literals only, as NumPy's own header reader does; no code runs
        fields: Any = ast.literal_eval(text)  # safe: literals only, never code
    except (SyntaxError, ValueError):
        raise ValueError("the header is not a dict literal") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise ValueError("the header does not hold exactly descr, fortran_order and shape")
    descr, shape, fortran = fields["descr"], fields["shape"], fields["fortran_order"]
    if not (
        isinstance(descr, str) and len(descr) >= 3 and descr[0] in "<>|=" and descr[2:].isdigit()
    ):
        raise ValueError(f"unsupported dtype {descr!r}")
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise ValueError(f"bad shape {shape!r}")
    if not isinstance(fortran, bool):
        raise ValueError("fortran_order is not a bool")
    return Header(_normal(descr), shape, fortran, offset)


def _normal(descr: str) -> str:
    """One spelling per dtype: a single byte has no byte order (``|``)."""
    return "|" + descr[1:] if descr[2:] == "1" else descr


def storage_descr(name: str) -> str:
    """:func:`storage_dtype` as its dtype string, without importing NumPy for the usual names."""
    return _DESCR.get(name) or _normal(storage_dtype(name).str)


def npy_bytes(array: np.ndarray) -> bytes:
    """The exact bytes ``np.save`` writes (deterministic for equal arrays)."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def storage_dtype(name: str) -> np.dtype:
    """The dtype a feature is stored with: little-endian, whatever the machine."""
    import numpy as np

    return np.dtype(name).newbyteorder("<")

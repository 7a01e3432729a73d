"""Read ``.npy`` headers without loading data; write ``.npy`` bytes; hash files in chunks."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK = 1 << 22


@dataclass(frozen=True)
class Header:
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int

    @property
    def data_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def read_header(path: Path) -> Header:
    """The header of a ``.npy`` file; raises ValueError when it is not one."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return Header(np.dtype(dtype), tuple(shape), bool(fortran), f.tell())


def npy_bytes(array: np.ndarray) -> bytes:
    """The exact bytes ``np.save`` writes (deterministic for equal arrays)."""
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
    return np.dtype(name).newbyteorder("<")

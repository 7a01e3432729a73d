"""trn's own .npy header reader (planning reads every shard's header without importing NumPy)
agrees with NumPy's files, and refuses what it cannot read with a ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from trn.data.npyfile import _DESCR, read_header, storage_descr, storage_dtype


@pytest.mark.parametrize("name", sorted(_DESCR))
@pytest.mark.parametrize("shape", [(0,), (7,), (5, 3, 2)])
def test_headers_of_numpys_own_files(tmp_path, name, shape):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(shape, dtype=storage_dtype(name)))
    head = read_header(path)
    assert head.descr == storage_descr(name) == np.lib.format.dtype_to_descr(storage_dtype(name))
    assert head.shape == shape and head.fortran_order is False
    assert head.data_offset + head.data_bytes == path.stat().st_size


def test_a_big_endian_file_is_told_apart(tmp_path):
    path = tmp_path / "be.npy"
    np.save(path, np.zeros(3, dtype=">f4"))
    assert read_header(path).descr == ">f4" != storage_descr("float32")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not numpy at all",
        b"\x93NUMPY\x09\x00",  # unknown version
        b"\x93NUMPY\x01\x00\x40\x00{'descr': '<f4'",  # cut short
        b"\x93NUMPY\x01\x00\x10\x00__import__('os')",  # not a literal
    ],
)
def test_what_is_not_a_plain_npy_file_is_a_value_error(tmp_path, content):
    path = tmp_path / "bad.npy"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        read_header(path)


def test_a_record_dtype_is_refused(tmp_path):
    path = tmp_path / "rec.npy"
    np.save(path, np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]))
    with pytest.raises(ValueError, match="unsupported dtype"):
        read_header(path)

"""A GGUF file's header: its metadata as Python values and where each tensor's data lies.

Written here rather than taken from the gguf package's reader, which keeps a numpy view for every
item of every metadata array: for a 49k-token vocabulary that is ~160 MiB and 2.4 s to read a 1.6 MB
header, the largest part of a quantized load's peak memory. The format
(https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) is a flat sequence of little-endian
fields; the gguf package still supplies the tensor types and their block sizes.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
# Metadata value types -> struct formats of the fixed-size ones (8 = string, 9 = array).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_MAX_NESTING = 8  # arrays of arrays: the format allows them, no file needs them deep
_MAX_DIMS = 4  # ggml's GGML_MAX_DIMS
# Tensor types stored as plain arrays; every other type is blocks of bytes.
_PLAIN = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
          "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64}


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    shape: tuple[int, ...]  # as GGUF lists it: the fastest-varying axis first
    tensor_type: Any  # gguf.GGMLQuantizationType
    offset: int  # of its first byte in the file
    n_bytes: int
    array_dtype: np.dtype  # the data as an array: a plain type, or uint8 blocks...
    array_shape: tuple[int, ...]  # ...of [rows..., bytes per row]


class HeaderError(ValueError):
    pass


class _Fields:
    """Little-endian fields read in order, each checked against the bytes the file has left, so a
    corrupt length is an error rather than a huge allocation."""

    def __init__(self, f: BinaryIO):
        self.f, self.size = f, os.fstat(f.fileno()).st_size

    def raw(self, n: int) -> bytes:
        if n > self.size - self.f.tell():
            raise HeaderError("the header ends early")
        return self.f.read(n)

    def take(self, fmt: str) -> Any:
        return struct.unpack("<" + fmt, self.raw(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.raw(self.take("Q")).decode("utf-8", errors="replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY and depth < _MAX_NESTING:
            item_kind, n = self.take("I"), self.take("Q")
            if item_kind in _SCALARS:  # numbers in one read
                fmt = np.dtype("<" + _SCALARS[item_kind])
                return np.frombuffer(self.raw(n * fmt.itemsize), dtype=fmt).tolist()
            if n > self.size - self.f.tell():  # every item takes at least a byte
                raise HeaderError("the header ends early")
            return [self.value(item_kind, depth + 1) for _ in range(n)]
        raise HeaderError(f"unknown metadata value type {kind}" if kind != _ARRAY else "arrays nested too deep")


def read_header(path: str | Path) -> tuple[dict[str, Any], dict[str, GGUFTensor]]:
    """(metadata key -> value, tensor name -> GGUFTensor) of a GGUF file; HeaderError if malformed."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    with open(path, "rb") as f:
        fields = _Fields(f)
        if f.read(4) != _MAGIC:
            raise HeaderError("no GGUF magic number")
        version = fields.take("I")
        if version not in (2, 3):
            endian = " (a big-endian file: openweight reads little-endian ones)" if version >> 24 in (2, 3) else ""
            raise HeaderError(f"GGUF version {version}{endian}; openweight reads 2 and 3")
        tensor_count, kv_count = fields.take("Q"), fields.take("Q")
        metadata = {}
        for _ in range(kv_count):
            key = fields.string()
            metadata[key] = fields.value(fields.take("I"))
        infos = []
        for _ in range(tensor_count):
            name = fields.string()
            dims = fields.take("I")
            if not 1 <= dims <= _MAX_DIMS:
                raise HeaderError(f"tensor '{name}' has {dims} dimensions")
            shape = tuple(fields.take("Q") for _ in range(dims))
            infos.append((name, shape, fields.take("I"), fields.take("Q")))
        alignment = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
        if type(alignment) is not int or alignment <= 0:
            raise HeaderError(f"general.alignment is {alignment!r}, not a positive integer")
        data_start = -(-f.tell() // alignment) * alignment
    tensors = {}
    for name, shape, type_id, offset in infos:
        try:
            kind = GGMLQuantizationType(type_id)
        except ValueError:
            raise HeaderError(f"tensor '{name}' has unknown type {type_id}") from None
        block, block_bytes = GGML_QUANT_SIZES[kind]
        if min(shape) < 1 or shape[0] % block:
            raise HeaderError(f"tensor '{name}' has shape {list(shape)}, which {kind.name} blocks of {block} "
                              "do not tile")
        rows = tuple(reversed(shape[1:]))
        if kind.name in _PLAIN:
            dtype, array_shape = np.dtype(_PLAIN[kind.name]), (*rows, shape[0])
        else:
            dtype, array_shape = np.dtype(np.uint8), (*rows, shape[0] // block * block_bytes)
        n_bytes = math.prod(shape) // block * block_bytes
        if data_start + offset + n_bytes > fields.size:
            raise HeaderError(f"tensor '{name}' lies past the end of the file")
        if name in tensors:
            raise HeaderError(f"tensor '{name}' is listed twice")
        tensors[name] = GGUFTensor(name, shape, kind, data_start + offset, n_bytes, dtype, array_shape)
    return metadata, tensors

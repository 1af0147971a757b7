"""A GGUF file's header: its metadata as Python values and where each tensor's data lies.

Written here rather than taken from the gguf package's reader, which keeps a numpy view for every
item of every metadata array: for a 49k-token vocabulary that is ~160 MiB and 2.4 s to read a 1.6 MB
header, the largest part of a quantized load's peak memory. The format
(https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) is a flat sequence of little-endian
fields; the gguf package still supplies the tensor types and their block sizes.
"""

from __future__ import annotations

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
    def __init__(self, f: BinaryIO):
        self.f = f

    def take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        raw = self.f.read(size)
        if len(raw) != size:
            raise HeaderError("the header ends early")
        return struct.unpack("<" + fmt, raw)[0]

    def string(self) -> str:
        n = self.take("Q")
        raw = self.f.read(n)
        if len(raw) != n:
            raise HeaderError("the header ends early")
        return raw.decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, n = self.take("I"), self.take("Q")
            if item_kind in _SCALARS:  # numbers in one read
                fmt = np.dtype("<" + _SCALARS[item_kind])
                raw = self.f.read(n * fmt.itemsize)
                if len(raw) != n * fmt.itemsize:
                    raise HeaderError("the header ends early")
                return np.frombuffer(raw, dtype=fmt).tolist()
            return [self.value(item_kind) for _ in range(n)]
        raise HeaderError(f"unknown metadata value type {kind}")


def read_header(path: str | Path) -> tuple[dict[str, Any], dict[str, GGUFTensor]]:
    """(metadata key -> value, tensor name -> GGUFTensor) of a GGUF file; HeaderError if malformed."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    with open(path, "rb") as f:
        fields = _Fields(f)
        if f.read(4) != _MAGIC:
            raise HeaderError("no GGUF magic number")
        version = fields.take("I")
        if version not in (2, 3):
            raise HeaderError(f"GGUF version {version} (openweight reads 2 and 3)")
        tensor_count, kv_count = fields.take("Q"), fields.take("Q")
        metadata = {}
        for _ in range(kv_count):
            key = fields.string()
            metadata[key] = fields.value(fields.take("I"))
        infos = []
        for _ in range(tensor_count):
            name = fields.string()
            shape = tuple(fields.take("Q") for _ in range(fields.take("I")))
            infos.append((name, shape, fields.take("I"), fields.take("Q")))
        alignment = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
        data_start = -(-f.tell() // alignment) * alignment
    tensors = {}
    for name, shape, type_id, offset in infos:
        try:
            kind = GGMLQuantizationType(type_id)
        except ValueError:
            raise HeaderError(f"tensor '{name}' has unknown type {type_id}") from None
        block, block_bytes = GGML_QUANT_SIZES[kind]
        rows = tuple(reversed(shape[1:]))
        if kind.name in _PLAIN:
            dtype, array_shape = np.dtype(_PLAIN[kind.name]), (*rows, shape[0])
        else:
            dtype, array_shape = np.dtype(np.uint8), (*rows, shape[0] // block * block_bytes)
        n_bytes = int(np.prod(shape, dtype=np.int64)) // block * block_bytes
        tensors[name] = GGUFTensor(name, shape, kind, data_start + offset, n_bytes, dtype, array_shape)
    return metadata, tensors

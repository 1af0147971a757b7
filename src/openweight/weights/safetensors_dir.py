"""Hugging Face-layout checkpoint folders: config.json + model.safetensors (or shards + index)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError
from .atomic import atomic_write, atomic_write_text
from .lazy import LazyTensors, file_bytes

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def refuse_pickle(path: Path) -> None:
    raise CheckpointError(
        f"{path}: refusing to load a pickle file (unpickling can run arbitrary code). "
        "Convert it to safetensors first, e.g. with transformers: "
        "AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out_dir, safe_serialization=True)")


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder, refusing pickles with a clear message."""
    if (folder / INDEX_FILE).exists():
        try:
            index = json.loads((folder / INDEX_FILE).read_text())
            names = sorted(set(index["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError) as e:
            raise CheckpointError(f"{folder / INDEX_FILE}: not a valid safetensors index ({e})") from None
        missing = [n for n in names if not (folder / n).exists()]
        if missing:
            raise CheckpointError(f"{folder / INDEX_FILE}: shard(s) missing: {', '.join(missing)}")
        return [folder / n for n in names]
    if (folder / SINGLE_FILE).exists():
        return [folder / SINGLE_FILE]
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        refuse_pickle(pickles[0])
    raise CheckpointError(f"{folder}: no {SINGLE_FILE} or {INDEX_FILE}")


_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U64": torch.uint64,
           "U32": torch.uint32, "U16": torch.uint16, "U8": torch.uint8, "BOOL": torch.bool,
           "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "F8_E8M0": torch.float8_e8m0fnu}


def read_tensors(files: list[Path], mapped: bool = True) -> LazyTensors:
    """Every tensor of the given safetensors files, by name, each read from its file when asked for.

    mapped: tensors share the file's memory map (no copy; pages load as they are touched). Otherwise
    each is read into memory of its own: for a load that converts most tensors (quantizing), whose
    touched pages of a mapping would stay resident until the last tensor sharing it is gone.
    """
    where: dict[str, tuple[Path, object]] = {}
    shapes: dict[str, torch.Size] = {}
    for path in files:
        try:
            handle = safe_open(str(path), framework="pt")
            layout = None if mapped else _data_layout(path)
            for name in handle.keys():
                where[name] = path, handle if mapped else layout[name]
                shapes[name] = torch.Size(handle.get_slice(name).get_shape())
        except (SafetensorError, OSError, RuntimeError) as e:
            raise CheckpointError(f"{path}: unreadable safetensors file, truncated or corrupt ({e})") from None

    def read(name: str) -> torch.Tensor:
        path, source = where[name]
        try:
            if mapped:
                return source.get_tensor(name)
            dtype, offset, size = source
            if size == 0:
                return torch.empty(shapes[name], dtype=dtype)
            return torch.from_numpy(file_bytes(path, offset, size)).view(dtype).reshape(shapes[name])
        except (SafetensorError, OSError, RuntimeError) as e:
            raise CheckpointError(f"{path}: tensor '{name}' is unreadable ({e})") from None

    return LazyTensors(shapes, read)


def _data_layout(path: Path) -> dict[str, tuple[torch.dtype, int, int]]:
    """name -> (dtype, byte offset in the file, byte size), from the header (safe_open has checked it):
    an 8-byte little-endian length, then that many bytes of JSON; data offsets count from its end."""
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
    layout = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] not in _DTYPES:
            raise CheckpointError(f"{path}: tensor '{name}' has dtype {entry['dtype']}, which openweight does not read")
        start, end = entry["data_offsets"]
        layout[name] = _DTYPES[entry["dtype"]], 8 + length + start, end - start
    return layout


def _parse_size(size: int | str) -> int:
    if isinstance(size, int):
        return size
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    text = size.strip().upper()
    for unit, mult in sorted(units.items(), key=lambda u: -len(u[0])):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * mult)
    return int(text)


def write_tensors(folder: Path, tensors: dict[str, torch.Tensor], max_shard_size: int | str = "5GB") -> None:
    """Write tensors as one file or as shards plus an index, the way `save_pretrained` does."""
    limit = _parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        shards[-1][name] = t.contiguous()
        size += nbytes
    previous = set(folder.glob("model-*-of-*.safetensors")) | {folder / INDEX_FILE, folder / SINGLE_FILE}
    if len(shards) == 1:
        written = [folder / SINGLE_FILE]
        atomic_write(written[0], lambda tmp: save_file(shards[0], str(tmp), metadata={"format": "pt"}))
    else:
        written, weight_map = [folder / INDEX_FILE], {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            atomic_write(folder / name, lambda tmp, s=shard: save_file(s, str(tmp), metadata={"format": "pt"}))
            weight_map.update({k: name for k in shard})
            written.append(folder / name)
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        atomic_write_text(folder / INDEX_FILE, json.dumps(index, indent=2) + "\n")
    for stale in previous - set(written):  # only once the new checkpoint is complete
        stale.unlink(missing_ok=True)

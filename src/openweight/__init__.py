"""openweight: open-weight reasoning language models in plain PyTorch."""

from .api import LM, load
from .config import ModelConfig
from .errors import CheckpointError, ConfigError, GenerationError, OpenweightError

__version__ = "0.1.0"
__all__ = ["LM", "load", "ModelConfig", "CheckpointError", "ConfigError", "GenerationError", "OpenweightError"]

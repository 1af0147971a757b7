"""One exception type per kind of user mistake, each naming what is wrong."""


class OpenweightError(Exception):
    """Base class: every error openweight raises on purpose."""


class ConfigError(OpenweightError, ValueError):
    """A config.json (or GGUF metadata) that openweight cannot build a model from."""


class CheckpointError(OpenweightError, ValueError):
    """A weights file that is missing, truncated, mis-shaped or in a refused format."""


class GenerationError(OpenweightError, ValueError):
    """A prompt or sampling setting that generation cannot honour."""


class RecipeError(OpenweightError, ValueError):
    """A training recipe or setting that cannot run: caught before any work starts."""


class TaskError(OpenweightError, ValueError):
    """A task family, reasoning effort, difficulty or problem count that an evaluation cannot use."""

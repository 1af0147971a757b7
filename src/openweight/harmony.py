"""`openweight.harmony`: render and parse the harmony format (the implementation lives in chat/harmony)."""

from .chat.harmony import *  # noqa: F401,F403
from .chat.harmony import __all__  # noqa: F401

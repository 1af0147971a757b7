"""The network only: no file formats, no sampling."""

from .transformer import Transformer

__all__ = ["Transformer"]

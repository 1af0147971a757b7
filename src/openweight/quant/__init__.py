"""Weight-only int8 / int4 quantization on PyTorch's CPU kernels."""

from .linear import Int4Linear, Int8Linear
from .model import MODES, is_quantized, quantize

__all__ = ["Int4Linear", "Int8Linear", "MODES", "is_quantized", "quantize"]

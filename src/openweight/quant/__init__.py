"""Weight-only int8 / int4 quantization: openweight's own CPU kernels for GGUF blocks (AVX2), or PyTorch's."""

from .linear import Int4Linear, Int8Linear
from .model import MODES, is_quantized, quantize

__all__ = ["Int4Linear", "Int8Linear", "MODES", "is_quantized", "quantize"]

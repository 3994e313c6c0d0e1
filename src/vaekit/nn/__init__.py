"""Layers only: encoder and decoder bodies. No losses, no I/O."""

from .conv import ConvConfig, ConvDecoder, ConvEncoder
from .mlp import MLPConfig, MLPDecoder, MLPEncoder
from .resconv import ResConvConfig, ResConvDecoder, ResConvEncoder

__all__ = [
    "ConvConfig",
    "ConvDecoder",
    "ConvEncoder",
    "MLPConfig",
    "MLPDecoder",
    "MLPEncoder",
    "ResConvConfig",
    "ResConvDecoder",
    "ResConvEncoder",
]

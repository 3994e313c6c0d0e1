"""Layers only: encoder and decoder bodies. No losses, no I/O."""

from .conv import ConvConfig, ConvDecoder, ConvEncoder
from .mlp import MLPConfig, MLPDecoder, MLPEncoder

__all__ = ["ConvConfig", "ConvDecoder", "ConvEncoder", "MLPConfig", "MLPDecoder", "MLPEncoder"]

"""Layers only: encoder and decoder bodies. No losses, no I/O."""

from .conv import ConvConfig, ConvDecoder, ConvEncoder
from .frames import FrameDecoder, FrameDynamics, FrameEncoder, FrameNets, FramesConfig
from .mlp import MLPConfig, MLPDecoder, MLPEncoder
from .resconv import ResConvConfig, ResConvDecoder, ResConvEncoder
from .sequence import SequenceConfig, SequenceDecoder, SequenceEncoder

__all__ = [
    "ConvConfig",
    "ConvDecoder",
    "ConvEncoder",
    "FrameDecoder",
    "FrameDynamics",
    "FrameEncoder",
    "FrameNets",
    "FramesConfig",
    "MLPConfig",
    "MLPDecoder",
    "MLPEncoder",
    "ResConvConfig",
    "ResConvDecoder",
    "ResConvEncoder",
    "SequenceConfig",
    "SequenceDecoder",
    "SequenceEncoder",
]

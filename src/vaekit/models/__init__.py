"""The generative model as an ``nn.Module`` (tensors only), its config and the presets table."""

from .module import ARCHITECTURES, PRESET_TRAINING, PRESETS, Latents, ModelConfig, VAEModule

__all__ = ["ARCHITECTURES", "PRESETS", "PRESET_TRAINING", "Latents", "ModelConfig", "VAEModule"]

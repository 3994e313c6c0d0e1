"""vaekit: Variational Autoencoders for images and tables — train, save, generate, explore."""

__version__ = "0.1.0"

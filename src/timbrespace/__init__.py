"""timbrespace: train a neural synthesizer on your own sounds and play with its latent space."""

__version__ = "0.1.0"

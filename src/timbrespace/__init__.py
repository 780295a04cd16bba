"""timbrespace: train a neural synthesizer on your own sounds and play with its latent space."""

__version__ = "0.1.0"


def load_bundle(path, *, device="cpu"):  # noqa: ANN001, ANN201 - thin lazy re-export
    """Load a trained bundle folder; see `timbrespace.bundle.load_bundle`."""
    from timbrespace.bundle import load_bundle as _load_bundle

    return _load_bundle(path, device=device)

"""Audio I/O, spectral front-ends and descriptors."""

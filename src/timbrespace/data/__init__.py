"""Dataset scanning, preparation, caching and the built-in demo pack."""

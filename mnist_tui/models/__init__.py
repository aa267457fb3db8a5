"""Architectures, the torch-free catalogue for --help, EMA, checkpoints."""

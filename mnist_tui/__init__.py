"""mnist: a terminal workbench for MNIST-shaped digit classifiers."""

__version__ = "0.1.0"

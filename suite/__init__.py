"""A benchmark and reproducibility suite for activation functions, learnable ones first."""

__version__ = "0.1.0"

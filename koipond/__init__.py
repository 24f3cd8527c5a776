"""koipond: continuous load testing with always-on simulated clients (koi)."""

__version__ = "0.1.0"

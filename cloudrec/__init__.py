"""cloudrec: a self-hosted cloud recorder for WebRTC rooms."""

__version__ = "0.1.0"

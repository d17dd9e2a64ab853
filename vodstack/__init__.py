"""vodstack: video on demand — upload, transcode to adaptive HLS, serve and cache."""

__version__ = "0.1.0"

"""kimitui: a terminal pair-programmer for Kimi coding models."""

__version__ = "0.1.0"

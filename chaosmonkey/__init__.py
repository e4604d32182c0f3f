"""chaosmonkey: attacks containers and pods on schedule and measures how the system recovers."""

__version__ = "0.1.0"

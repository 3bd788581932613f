"""Gradient checking and hypothesis strategies for users of tape (filled in by the testing work)."""

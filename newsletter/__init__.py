"""Almanac newsletter: assemble, render, preview and send the Midweek and Sunday emails."""

__version__ = "0.1.0"

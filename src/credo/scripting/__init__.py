"""Sandboxed DCR scripts."""

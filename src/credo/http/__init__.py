"""Thin HTTP handlers: parse once, call the protocol core, render the result or the OAuth error."""

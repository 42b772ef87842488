"""Credo: an OAuth 2.0 / OpenID Connect authorization server for applications and AI agents."""

__version__ = "0.1.0"

"""The protocol core: typed requests in, typed results or OAuthError out. No web framework, ORM or settings."""

"""Grant handlers, one module per grant type; each reads like its RFC section."""

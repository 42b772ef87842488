"""The `credo` command."""

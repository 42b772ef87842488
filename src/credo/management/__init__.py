"""Administrative use cases, shared by the admin API, the console, the CLI and import/export."""

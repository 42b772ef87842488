"""The admin console and admin API."""

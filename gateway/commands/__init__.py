"""The `sobria` command line."""

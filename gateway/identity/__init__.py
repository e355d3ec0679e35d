"""Identity: API keys and the principal of a request (keys, forwarded users, sessions)."""

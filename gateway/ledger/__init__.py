"""The ledger: usage records, keys and audit log in SQL, written off the request path."""

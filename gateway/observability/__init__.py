"""Observability: spans, Prometheus metrics, structured logs, measured mode."""

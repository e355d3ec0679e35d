"""Upstream: the model catalogue, the direct relay, litellm, demo answers, retries and fallbacks."""

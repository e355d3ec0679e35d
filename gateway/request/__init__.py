"""The request path: the chat pipeline, the flight, token bounds, outcome, API shape translation."""

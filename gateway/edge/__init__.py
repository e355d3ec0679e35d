"""The HTTP edge: routes, typed dependencies, error mapping, size limits, the refused-access trace."""

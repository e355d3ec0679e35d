"""Page handlers, one module per audience."""

"""HTTP routes: each module translates between HTTP and one part of the gateway."""

"""Neutral contracts shared by the packages: what `policies` needs from the gateway, without importing it.

`gateway` depends on `policies` (the engine decides each request); `policies` depends
only on these shapes, which the gateway's own classes satisfy structurally, so the two
packages no longer import each other.
"""

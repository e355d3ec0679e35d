"""The AI ethics committee's inventory: register of use cases, lifecycle, usage, report."""

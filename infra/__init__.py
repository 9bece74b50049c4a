"""Plumbing the adapters and entry points share: child processes, the workers' HTTP API."""

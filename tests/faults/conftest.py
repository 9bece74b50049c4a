"""The fault suite runs on the integration tests' real components (broker, workers)."""

from tests.integration.conftest import stack  # noqa: F401 — the fixture, shared

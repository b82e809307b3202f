"""FlakeGuard: the application shell (settings, app factory, CLI, REST API, use cases)."""

__version__ = "0.1.0"

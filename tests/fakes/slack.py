"""A fake Slack Web API (a real HTTP server on 127.0.0.1) and Slack request signing.

Fixtures defined here are loaded by tests/conftest.py (pytest_plugins).
"""

"""A fake GitHub REST API (a real HTTP server on 127.0.0.1) and webhook signing.

Fixtures defined here are loaded by tests/conftest.py (pytest_plugins).
"""

"""FlakeGuard's CI client: upload reports, gate on quarantines, honour them inside pytest.

Standard library only, and nothing of the FlakeGuard server: the server imports
this package (``flakeguard upload`` runs the same code), never the other way.
"""

__version__ = "0.1.0"

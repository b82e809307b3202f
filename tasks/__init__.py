"""The Huey instance and the thin task functions over the use cases.

``huey`` starts in immediate mode on in-memory storage, so importing this
package connects to nothing; ``configure(settings)`` points it at Redis (when
``REDIS_URL`` is set) or at Huey's SQLite storage next to the database.
Importing this package imports every task module, which registers its tasks
with Huey and with ``flakeguard.jobs`` so the use cases can enqueue by name.
One module per concern; add yours to the import list below.
"""

from tasks import (  # noqa: F401  (registers tasks)
    analysis,
    github,
    maintenance,
    owners,
    slack,
)
from tasks.queue import configure, huey, with_db

__all__ = ["configure", "huey", "with_db"]

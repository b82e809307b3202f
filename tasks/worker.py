"""Entry point for ``huey_consumer tasks.worker.huey``: settings, database and queue from the env.

Importing this module reads the environment and points the queue at its real
storage; only the consumer process imports it (the Procfile's ``worker``).
``flakeguard worker`` does the same with a one-line error on bad settings.
"""

from flakeguard import logs
from flakeguard.secrets import configure_secrets
from flakeguard.settings import Settings
from models import init_db
from tasks.queue import configure

settings = Settings.from_env()
logs.configure_logging(
    level=settings.log_level, fmt=settings.log_format, secrets=logs.settings_secrets(settings)
)
configure_secrets(settings)
init_db(settings.database_url)
huey = configure(settings)

"""Gunicorn settings, read from the working directory by the Procfile's ``web`` process.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every web worker writes its metrics
there and ``/metrics`` adds them up; when a worker exits its live values are
marked dead so they stop counting as current.
"""


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Forget the live values of a web worker that exited (its counters stay summed)."""
    from prometheus_client import multiprocess

    from flakeguard.settings import Settings

    directory = Settings.from_env().prometheus_multiproc_dir
    if directory:
        multiprocess.mark_process_dead(worker.pid, directory)

# FlakeGuard: one image for the Procfile's three processes (web, worker, release).
#   docker build -t flakeguard .
#   docker run flakeguard                                   # web (gunicorn)
#   docker run flakeguard huey_consumer tasks.worker.huey   # worker
#   docker run flakeguard flakeguard migrate                # release

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine engine
COPY models models
COPY flakeguard flakeguard
COPY bot bot
COPY integrations integrations
COPY tasks tasks
COPY client client
# Wheels for FlakeGuard and every dependency; the runtime stage installs them offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/flakeguard-metrics
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin flakeguard
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels flakeguard-server && rm -rf /wheels
WORKDIR /app
COPY --chown=flakeguard:flakeguard gunicorn.conf.py Procfile ./
USER flakeguard
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"
# The Procfile's web line; gunicorn reads gunicorn.conf.py (metrics of exited workers).
CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec gunicorn --bind 0.0.0.0:${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --threads 4 'flakeguard.app:create_app()'"]

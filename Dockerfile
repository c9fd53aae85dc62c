# One image for every role: `reminders api` (the default), `reminders worker` and
# `reminders migrate` (and the admin chores: `create-admin`, `reconcile`).
#
#   docker build -t reminders .
#   docker run --rm --env-file prod.env reminders migrate
#   docker run --env-file prod.env -p 127.0.0.1:8000:8000 reminders        # the API
#   docker run --env-file prod.env -e WORKER_METRICS_ADDRESS=0.0.0.0:9464 reminders worker
#
# The image defaults to ENV=production, so the API and the worker refuse to start on unsafe
# settings (a default SECRET_KEY, SQLite, sandbox channels, ...) and say which; set
# ENV=development to try it without real providers, as docker-compose.yml does.
#
# Ports: 8000 is the API (GET /healthz, /readyz, /metrics). The worker serves no HTTP
# except, when WORKER_METRICS_ADDRESS is set (0.0.0.0:9464 in a container), the Temporal
# SDK's Prometheus metrics at http://<address>/metrics.
#
# Settings come from the environment (README "Configuration"); nothing secret is baked in.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: a virtualenv with the runtime dependencies and the project ---------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# The dependencies first (read from pyproject.toml, without the dev extras), so a change
# to the code alone does not reinstall them. Every one has a manylinux wheel: no compiler.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The code. It stays in /app, installed in editable mode, because `reminders migrate`
# finds alembic.ini and alembic/ beside the packages (ops/migrations.py).
COPY alembic.ini ./
COPY alembic ./alembic
COPY api ./api
COPY core ./core
COPY workflows ./workflows
COPY activities ./activities
COPY channels ./channels
COPY ops ./ops
COPY cli.py worker.py ./
RUN pip install --no-deps -e . \
    && python -m compileall -q /app/api /app/core /app/workflows /app/activities /app/channels /app/ops /app/alembic

# --- runtime: the slim image, the virtualenv and the code, run as a non-root user ----------
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENV=production

RUN groupadd --system --gid 10001 reminders \
    && useradd --system --uid 10001 --gid reminders --home-dir /app --shell /usr/sbin/nologin reminders \
    && install -d -o reminders -g reminders -m 700 /var/lib/reminders/uploads

# Same paths as in the build stage: the virtualenv's scripts and the editable install
# point at /opt/venv and /app.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app

USER reminders:reminders

EXPOSE 8000
# The worker's metrics when WORKER_METRICS_ADDRESS=0.0.0.0:9464 (not published by default).
EXPOSE 9464

# For the API. The worker serves no /healthz: docker-compose.yml gives it its own check
# (its metrics endpoint) and turns this one off for one-shot commands.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["reminders"]
CMD ["api", "--host", "0.0.0.0"]

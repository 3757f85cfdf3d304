# consent-sync container: `consent-sync run` (HTTP service and scheduler) by default.
#   docker build -t consent-sync .
#   docker run --env-file consent-sync.env -p 8080:8080 consent-sync            # run (HTTP + scheduler)
#   docker run --env-file consent-sync.env consent-sync daemon                  # scheduler only
#   docker run --env-file consent-sync.env consent-sync db upgrade              # migrations as a step
# Set CONSENT_SYNC_MIGRATE_ON_START=true to run `consent-sync db upgrade` at start instead.
# scripts/container-smoke.sh performs the same install steps without Docker; keep the two in step.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/consent-sync
# The runtime dependencies at their locked versions (requirements.lock, made by scripts/lock), then the
# package alone: the image holds what runtime code imports, nothing of the dev or parquet extras.
COPY requirements.lock ./
RUN /opt/consent-sync/bin/pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY connector ./connector
RUN /opt/consent-sync/bin/pip install --no-cache-dir --no-deps . \
    && /opt/consent-sync/bin/pip check

FROM python:3.11-slim
ENV PATH="/opt/consent-sync/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONSENT_SYNC_HTTP__HOST=0.0.0.0 \
    CONSENT_SYNC_HTTP__PORT=8080 \
    CONSENT_SYNC_LOGGING__FORMAT=json \
    CONSENT_SYNC_METRICS_PORT=9108 \
    CONSENT_SYNC_MIGRATE_ON_START=false \
    CONSENT_SYNC_HEALTH_URL=http://127.0.0.1:8080/healthz
RUN groupadd --system --gid 10001 consent-sync \
    && useradd --system --uid 10001 --gid consent-sync --home-dir /var/lib/consent-sync --create-home \
       --shell /usr/sbin/nologin consent-sync
COPY --from=build /opt/consent-sync /opt/consent-sync
WORKDIR /var/lib/consent-sync
USER 10001:10001
EXPOSE 8080 9108
# No curl in the slim image: Python asks. For `daemon`, set CONSENT_SYNC_HEALTH_URL to :9108/healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen(os.environ['CONSENT_SYNC_HEALTH_URL'], timeout=4).status != 200)"]
ENTRYPOINT ["consent-sync"]
CMD ["run"]

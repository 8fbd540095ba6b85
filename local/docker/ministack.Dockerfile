# MiniStack as a container, built offline from the same base and wheelhouse as the consumer:
# the emulator image the docker-tier tests use when no LocalStack image is present locally.
# Build from the repository root (`python -m local.docker build ministack`).
ARG BASE_IMAGE=python:3.13-slim

FROM ${BASE_IMAGE} AS deps
COPY .wheelhouse/ministack/ /wheels/
RUN set -eu; \
    pip_whl="$(ls /wheels/pip-*.whl | head -n 1)"; \
    python3 "$pip_whl/pip" install --no-index --find-links /wheels --no-compile \
        --disable-pip-version-check --no-warn-script-location \
        --target /opt/ministack/site -r /wheels/requirements.txt; \
    rm -rf /opt/ministack/site/bin; \
    python3 -m compileall -q -j 0 /opt/ministack

FROM ${BASE_IMAGE}
ARG APP_UID=10001
RUN echo "ministack:x:${APP_UID}:${APP_UID}:ministack:/tmp:/usr/sbin/nologin" >> /etc/passwd \
    && echo "ministack:x:${APP_UID}:" >> /etc/group
COPY --from=deps /opt/ministack /opt/ministack
# BIND_HOST 0.0.0.0 suits a published port; with host networking pass BIND_HOST=127.0.0.1.
ENV PYTHONPATH=/opt/ministack/site \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    GATEWAY_PORT=4566 \
    BIND_HOST=0.0.0.0 \
    LOG_LEVEL=WARNING
USER ${APP_UID}:${APP_UID}
WORKDIR /tmp
EXPOSE 4566
LABEL sqs-kit.image="ministack"
HEALTHCHECK --interval=2s --timeout=2s --retries=30 \
    CMD ["python3", "-c", "import os,urllib.request as u; u.urlopen('http://127.0.0.1:%s/_localstack/health' % os.environ.get('GATEWAY_PORT', '4566'), timeout=2)"]
ENTRYPOINT ["python3", "-m", "ministack"]

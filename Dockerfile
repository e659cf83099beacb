# One image per package, all from this one parametrised file at the workspace root (the
# services share libs/common and one uv.lock, so a Dockerfile per service would be three
# copies of these lines): PACKAGE names the console script the image runs.
#   docker build --build-arg PACKAGE=vigie-ingest -t vigie-ingest:0.1.0 .
#   docker build --build-arg PACKAGE=vigie-prober -t vigie-prober:0.1.0 .
#   docker build --build-arg PACKAGE=vigie-notifier -t vigie-notifier:0.1.0 .
#   docker build --build-arg PACKAGE=vigie-lab \
#     --build-arg HEALTHCHECK_URL=tcp://127.0.10.254:2222 -t vigie-lab:0.1.0 .
# docker-compose.yml builds the four this way.
# Stage 1 installs the package and its locked dependencies into a venv (no dev tools);
# stage 2 copies that venv only, and runs as a non-root user (uid 10001) with a health check.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PACKAGE
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
RUN test -n "$PACKAGE" && uv sync --locked --no-dev --no-editable --package "$PACKAGE"

FROM ${PYTHON_IMAGE}
ARG PACKAGE
# What the image's health check asks: empty, http://127.0.0.1:<VIGIE_<SERVICE>_PORT>/healthz
# (8000, 9101, 9102 by default); tcp://host:port only connects (the lab's jump host).
ARG HEALTHCHECK_URL=
# /var/lib/vigie is the working folder, owned by the user: a named volume mounted there (the
# lab's keys and inventory) starts with that owner.
RUN groupadd --system --gid 10001 vigie \
    && useradd --system --uid 10001 --gid 10001 --no-create-home vigie \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/vigie
COPY --from=build /app/.venv /app/.venv
# The entrypoint is the package's console script (vigie-ingest, vigie-prober, vigie-notifier,
# vigie-lab); arguments are its command: `migrate`, or nothing to serve / run.
RUN test -x "/app/.venv/bin/${PACKAGE}" && ln -s "/app/.venv/bin/${PACKAGE}" /app/entrypoint
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIGIE_LOG_FORMAT=json \
    IMAGE_PACKAGE=${PACKAGE} \
    HEALTHCHECK_URL=${HEALTHCHECK_URL}
WORKDIR /var/lib/vigie
USER 10001:10001
# No curl in the image: the standard library asks (docker-compose.yml repeats it per service).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 CMD ["python", "-c", "import os, socket, urllib.request; s = os.environ['IMAGE_PACKAGE'].removeprefix('vigie-'); d = {'ingest': '8000', 'prober': '9101', 'notifier': '9102'}; u = os.environ.get('HEALTHCHECK_URL') or 'http://127.0.0.1:' + os.environ.get('VIGIE_' + s.upper() + '_PORT', d.get(s, '0')) + '/healthz'; h, _, p = u[6:].rpartition(':'); (socket.create_connection((h, int(p)), timeout=3) if u.startswith('tcp://') else urllib.request.urlopen(u, timeout=3)).close()"]
ENTRYPOINT ["/app/entrypoint"]

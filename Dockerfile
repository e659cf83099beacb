# One image per service, built from the workspace root:
#   docker build --build-arg PACKAGE=vigie-ingest -t vigie-ingest .
# Stage 1 installs the service and its locked dependencies into a venv (no dev tools);
# stage 2 copies that venv only, and runs as a non-root user.
FROM python:3.11-slim AS build
ARG PACKAGE
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
RUN test -n "$PACKAGE" && uv sync --locked --no-dev --no-editable --package "$PACKAGE"

FROM python:3.11-slim
ARG PACKAGE
RUN useradd --system --uid 10001 --no-create-home vigie
COPY --from=build /app/.venv /app/.venv
# The entrypoint is the service's console script (vigie-ingest, vigie-prober, vigie-notifier);
# arguments are its command: `migrate`, or nothing to serve / run.
RUN ln -s "/app/.venv/bin/${PACKAGE}" /app/entrypoint
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 VIGIE_LOG_FORMAT=json
USER 10001
ENTRYPOINT ["/app/entrypoint"]

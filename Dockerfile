# The Lambda emulator for the Docker sandbox (docker-compose.yml `lambda`). python:3.11 is the Zappa runtime
# (zappa_settings.json "runtime": "python3.11"). Compose bind-mounts the source over /app; the copy below makes the
# image usable on its own too. The image needs only the runtime requirements: the emulator is the harness's
# dev/emulator on Zappa's own handler, and the tools (tests, linters) run on the host.
FROM python:3.11-slim

# uv installs the pinned requirements in seconds; keep UV_VERSION equal to the Makefile's (a test checks it).
ARG UV_VERSION=0.13.9

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_NATIVE_TLS=1

WORKDIR /app

# Layers from the least to the most often changed: the user and the installer, then the pinned requirements, and
# the source last, so a source edit never reinstalls anything.
# uid 1000: the usual owner of a checkout on Linux. The emulator writes only to /tmp (--runtime-dir below).
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin app \
    && pip install --no-cache-dir "uv==${UV_VERSION}"
COPY requirements.txt ./
# Into the image's own interpreter (the official image's, or a venv's in a stand-in): the path names it. Bytecode is
# compiled once here: the container never writes it (PYTHONDONTWRITEBYTECODE), and every cold start would pay it.
RUN uv pip install --no-cache --compile-bytecode --python /usr/local/bin/python -r requirements.txt

COPY . .
USER 1000:1000

EXPOSE 9000 8000

# Same probe and timing as docker-compose.yml and dev/services.py.
HEALTHCHECK --interval=1s --timeout=5s --retries=60 --start-period=5s \
    CMD ["python", "-m", "dev.services", "health", "http://127.0.0.1:9000/health"]

CMD ["python", "-m", "dev.emulator", "--project-dir", ".", "--settings", "zappa_settings.json", "--stage", "local", "--host", "0.0.0.0", "--port", "9000", "--api-port", "8000", "--max-concurrency", "2", "--pass-env", "DATABASE_URL", "--pass-env", "WEBSUB_CALLBACK_URL", "--pass-env", "WEBSUB_HUB_URL", "--runtime-dir", "/tmp/emulator-runtime"]

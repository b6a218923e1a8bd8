# The Lambda emulator for the Docker sandbox (docker-compose.yml `lambda`). python:3.11 is the Zappa runtime
# (zappa_settings.json "runtime": "python3.11"). Compose bind-mounts the source over /app; the copy below makes the
# image usable on its own too.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Pinned requirements first, so a source edit does not reinstall them.
COPY requirements.txt requirements-dev.txt ./
RUN pip install --no-cache-dir -r requirements-dev.txt

COPY . .

# uid 1000: the usual owner of a checkout on Linux; compose gives it a tmpfs for .runtime/ (see docker-compose.yml).
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin app
USER 1000:1000

EXPOSE 9000 8000

# Same probe and timing as docker-compose.yml and dev/services.py.
HEALTHCHECK --interval=2s --timeout=5s --retries=30 --start-period=5s \
    CMD ["python", "-m", "dev.services", "health", "http://127.0.0.1:9000/health"]

CMD ["python", "-m", "dev.emulator", "--project-dir", ".", "--settings", "zappa_settings.json", "--stage", "local", "--host", "0.0.0.0", "--port", "9000", "--api-port", "8000", "--max-concurrency", "2"]

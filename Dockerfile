# The bot's one image: `python -m bot serve`, `scheduler` and `migrate` all run from it
# (docker-compose.yml picks the command). Runtime dependencies only, pinned by constraints.txt.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    BOT_HOST=0.0.0.0 \
    BOT_PORT=8080 \
    BOT_MEDIA_DIR=/app/var/media

WORKDIR /app
# var/media holds complaint photos; owned by the bot user so a fresh named volume is writable.
RUN useradd --system --uid 10001 --home-dir /app --no-create-home bot \
    && mkdir -p /app/var/media && chown -R bot:bot /app/var

COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

COPY bot ./bot
COPY admin ./admin
COPY migrations ./migrations

USER bot
EXPOSE 8080
CMD ["python", "-m", "bot", "serve"]

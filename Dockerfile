# The one image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY . .
# Collected as production serves them (DEBUG off): hashed names and the manifest that finds them.
RUN pip install . && SECRET_KEY=build-only python manage.py collectstatic --noinput

RUN useradd --system --uid 1000 steward && mkdir -p /app/media && chown steward /app/media
USER steward
EXPOSE 8000

FROM python:3.11-slim
WORKDIR /app
# The production lock: requirements.lock's pins without the test and lint tools (`make lock` makes both).
COPY requirements-prod.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes -r requirements-prod.lock
COPY gridjourney ./gridjourney
COPY journeys ./journeys
COPY templates ./templates
COPY events ./events
COPY policy.yaml tariffs.yaml customer_attributes.yaml ./
RUN pip install --no-cache-dir --no-deps .
# Log lines reach `docker compose logs` as they are written; the processes need no root.
ENV PYTHONUNBUFFERED=1
# The home (generated keys, scoring models) belongs to the user the processes run as: a named volume
# mounted there starts as a copy of this directory, owner included (docker-compose.yml, gridjourney-home).
ENV GRIDJOURNEY_HOME=/app/.gridjourney
RUN useradd --system --no-create-home gridjourney \
    && mkdir -p /app/.gridjourney && chown gridjourney:gridjourney /app/.gridjourney
USER gridjourney
# docker-compose.yml runs `gridjourney db upgrade`, `journeys publish journeys/`, `api`, `worker`, `router`.
CMD ["gridjourney", "api"]

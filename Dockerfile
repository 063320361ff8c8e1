FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY gridjourney ./gridjourney
COPY journeys ./journeys
COPY templates ./templates
COPY events ./events
COPY policy.yaml tariffs.yaml customer_attributes.yaml ./
RUN pip install --no-cache-dir --no-deps .
# Log lines reach `docker compose logs` as they are written; the processes need no root.
ENV PYTHONUNBUFFERED=1
RUN useradd --system --no-create-home gridjourney
USER gridjourney
# docker-compose.yml runs `gridjourney db upgrade`, `journeys publish journeys/`, `api`, `worker`, `router`.
CMD ["gridjourney", "api"]

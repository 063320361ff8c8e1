FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY gridjourney ./gridjourney
COPY journeys ./journeys
COPY templates ./templates
RUN pip install --no-cache-dir --no-deps .
CMD ["gridjourney", "api"]

# kgdistill's application image. Neo4j comes from docker-compose.yml (NEO4J_URI),
# so this image needs neither Java nor Maven.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY kgframe kgframe
COPY kgstore kgstore
COPY distill distill
COPY kgdistill kgdistill
RUN pip install --no-cache-dir -e '.[ann]'
COPY . .
ENV PYTHONUNBUFFERED=1
ENTRYPOINT []
CMD ["kgdistill", "--help"]

# The lineage API: `docker compose up` runs it beside Neo4j and Orthanc.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lineage lineage
COPY connectors connectors
COPY queries queries
COPY api api
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /var/lib/lineage --create-home lineage \
    && mkdir -p /var/lib/lineage/audit && chown -R lineage /var/lib/lineage
ENV LINEAGE_STORE=bolt://neo4j:7687 \
    LINEAGE_ENV=production \
    LINEAGE_AUDIT_LOG=/var/lib/lineage/audit/lineage-api-audit.jsonl
USER lineage
WORKDIR /var/lib/lineage
EXPOSE 8000
# Needs LINEAGE_PSEUDONYM_KEY and LINEAGE_API_TOKENS (hashed tokens) in production.
CMD ["lineage", "serve", "--host", "0.0.0.0", "--port", "8000"]

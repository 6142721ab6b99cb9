# syntax=docker/dockerfile:1
# Build: the official Swift image runs scripts/package (release, Swift runtime linked statically).
FROM swift:6.3-bookworm AS build
# PostgreSQL's own parser, the linter's (docs/safety.md): built into the binary, nothing to install at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpg-query-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/package

# Run: a slim Debian with the binary, as a user without privileges. The data folder holds the SQLite
# file when DATABASE_URL is not set (mount a volume there, or point DATABASE_URL at PostgreSQL).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown app /app/data
COPY --from=build /src/dist/app /app/app
USER app
WORKDIR /app
ENV APP_ENV=production
EXPOSE 8080
# Liveness only: /healthz (readiness) also asks the database, which a container restart cannot fix.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD curl -fsS http://127.0.0.1:8080/livez || exit 1
ENTRYPOINT ["/app/app"]
CMD ["serve", "--hostname", "0.0.0.0", "--port", "8080"]

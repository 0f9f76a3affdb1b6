# syntax=docker/dockerfile:1
# Every lakehouse binary in one image: the services lakehouse-api, lakehouse-stream-processor,
# lakehouse-delta-writer and lakehouse-lake-browser, and `lakehouse`, the command for everything a
# person runs (with its man pages; `lakehouse-warehouse-sync` only names the command that
# replaced it). A deployment picks one with its command.
#
#   docker build -t lakehouse:dev .
#   docker run --rm lakehouse:dev lakehouse-api --help

# --- build: the release binaries, with the registry and target folders cached between builds.
# The delta-writer is built on its own: built with `lakehouse` and the lake browser, cargo would
# unify its features with theirs and link the lake's `query` feature (DataFusion) into it.
FROM rust:1.95-bookworm AS build
# librdkafka (built by rdkafka-sys) needs a C toolchain, OpenSSL and zlib headers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      --bin lakehouse-api --bin lakehouse-stream-processor \
      --bin lakehouse-lake-browser --bin lakehouse --bin lakehouse-warehouse-sync \
 && cargo build --release --locked --bin lakehouse-delta-writer \
 && mkdir -p /out/bin /out/man \
 && cp target/release/lakehouse-api target/release/lakehouse-stream-processor \
       target/release/lakehouse-delta-writer target/release/lakehouse-lake-browser \
       target/release/lakehouse target/release/lakehouse-warehouse-sync /out/bin/ \
 && /out/bin/lakehouse man-pages --out /out/man/man1

# --- runtime: the binaries, their shared libraries, CA certificates, and curl for health checks.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lakehouse \
 && useradd --system --uid 10001 --gid lakehouse --home-dir /var/lib/lakehouse --create-home \
      --shell /usr/sbin/nologin lakehouse
COPY --from=build /out/bin/ /usr/local/bin/
# `man lakehouse-lake-vacuum` where man is installed; `lakehouse <command> --help` everywhere.
COPY --from=build /out/man/ /usr/local/share/man/
# A local lake (LAKE_URI=./data/lake, the default) lands here; deployments point LAKE_URI at S3.
WORKDIR /var/lib/lakehouse
USER 10001:10001
ENV LOG_FORMAT=json
EXPOSE 3001 8501 9101 9102
# No entrypoint: the command names the binary (compose and the chart set it).
CMD ["lakehouse-api"]

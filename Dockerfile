# syntax=docker/dockerfile:1
# One image with every olistlake binary. Airflow runs one job per container:
#   docker run --rm olistlake:latest silver-build --start 2017-11-24T00:00:00+00:00 --end ...
# and the compose stack runs the replay producer from the same image.

# Two ways to the same image:
#   docker build -t olistlake .        compiles the executable in a Rust builder stage (users)
#   docker build -t olistlake --build-arg BINARY_FROM=prebuilt --build-context bin=DIR .
#                                       copies DIR/olistlake-multicall, compiled outside (tests:
#                                       no second cold build); everything else is identical.
# BASE_IMAGE and RUST_IMAGE name the base images, e.g. a locally made Debian base where no
# registry can be reached (tests/support/podman.sh).
ARG BASE_IMAGE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1.95-bookworm
ARG BINARY_FROM=build

# --- build -------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
# librdkafka (vendored, built by rdkafka-sys) needs make and a C++ compiler: both in this image.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY jobs ./jobs
COPY benches ./benches
# One multi-call executable (src/bin/olistlake-multicall.rs) holds every program: the heavy
# libraries are linked once, and a link per program name selects it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin olistlake-multicall \
    && mkdir -p /out \
    && cp target/release/olistlake-multicall /out/ \
    && strip /out/olistlake-multicall

# --- or a prebuilt executable (the `bin` build context) ------------------------------------
FROM scratch AS prebuilt
# `bin` is a named build context (--build-context bin=DIR), not a stage
# hadolint ignore=DL3022
COPY --from=bin olistlake-multicall /out/olistlake-multicall

# hadolint ignore=DL3006
FROM ${BINARY_FROM} AS binary

# --- runtime -----------------------------------------------------------------------------
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
# ca-certificates is left unpinned on purpose: the image should get Debian's current CA set.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 olistlake \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/olistlake olistlake
COPY --from=binary /out/olistlake-multicall /usr/local/bin/olistlake-multicall
RUN for p in olistlake olist-synth olist-prepare olist-replay bronze-load silver-build gold-bcg gold-leadtime; do \
        ln -s olistlake-multicall "/usr/local/bin/$p"; \
    done
COPY docker/entrypoint.sh /usr/local/bin/olistlake-entrypoint
USER 10001:10001
WORKDIR /home/olistlake
# Logs to stderr, the JSON summary on stdout; no credentials in the image: the catalog URI,
# warehouse, S3 endpoint and AWS_* keys come from the environment at run time.
ENV OLISTLAKE_LOG=info \
    OLISTLAKE_METRICS_ADDR=0.0.0.0:9464
EXPOSE 9464
# The producer answers /metrics; batch jobs exit before a healthcheck matters.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q olistlake <&3"]
ENTRYPOINT ["olistlake-entrypoint"]
CMD ["olistlake", "--help"]

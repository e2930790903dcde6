# syntax=docker/dockerfile:1
#
# docspace-retention as a container: a static (musl) release binary on distroless
# static, running as a non-root user. Build from the repository root:
#
#   docker build --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t docspace-retention .
#   docker run -v ./config.toml:/etc/docspace-retention/config.toml:ro \
#              -v retention-state:/var/lib/docspace-retention -p 9464:9464 docspace-retention

# ---- build ----
FROM rust:1.95-slim-bookworm AS build
# musl-tools: the C toolchain ring needs for the static musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src

# Dependencies first, in their own layer: rebuilt only when Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock build.rs ./
# (Cargo.toml declares the bench targets; empty stand-ins satisfy it, they are never built.)
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs benches/planner.rs benches/fleet.rs benches/footprint.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl \
 && rm -rf src

COPY src ./src
ARG GIT_COMMIT=unknown
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/docspace-retention /docspace-retention \
 && mkdir -p /state

# ---- runtime ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /docspace-retention /usr/local/bin/docspace-retention
COPY --from=build --chown=65532:65532 /state /var/lib/docspace-retention
# The config is mounted here; every key can also be set with DOCSPACE_RETENTION_* variables.
ENV DOCSPACE_RETENTION_CONFIG=/etc/docspace-retention/config.toml \
    DOCSPACE_RETENTION_SERVER__LISTEN=0.0.0.0:9464 \
    DOCSPACE_RETENTION_DAEMON__STATE_DIR=/var/lib/docspace-retention
VOLUME ["/var/lib/docspace-retention"]
USER 65532:65532
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/docspace-retention", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/docspace-retention"]
CMD ["run"]

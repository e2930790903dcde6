# syntax=docker/dockerfile:1
#
# docspace-retention as a container: a static (musl) release binary on distroless
# static, running as the non-root user 65532. Build from the repository root:
#
#   docker build --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t docspace-retention:0.1.0 .
#   docker run -v ./config.toml:/etc/docspace-retention/config.toml:ro \
#              -v retention-state:/var/lib/docspace-retention -p 9464:9464 docspace-retention:0.1.0
#
# The base images are build arguments with today's values as defaults. Where a registry
# is out of reach (our CI), scripts/check-container.sh builds this same runtime stage
# from local equivalents: BINARY_FROM names an image holding /docspace-retention and
# /state built the same way on the host, RUNTIME_IMAGE a base assembled from the host's
# CA bundle and a passwd file with the nonroot user.
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot
ARG BINARY_FROM=build

# ---- build ----
FROM ${RUST_IMAGE} AS build
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
 && touch src/lib.rs benches/planner.rs benches/fleet.rs benches/footprint.rs benches/attest.rs benches/page.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl \
 && rm -rf src

COPY src ./src
ARG GIT_COMMIT=unknown
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/docspace-retention /docspace-retention \
 && mkdir -p /state

# ---- the binary the runtime takes: the build stage above unless BINARY_FROM says otherwise ----
FROM ${BINARY_FROM} AS binary

# ---- runtime ----
FROM ${RUNTIME_IMAGE}
COPY --from=binary /docspace-retention /usr/local/bin/docspace-retention
COPY --from=binary --chown=65532:65532 /state /var/lib/docspace-retention
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

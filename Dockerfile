# syntax=docker/dockerfile:1
# The postgres-reconciler image for users with a Docker engine (the release pipeline builds it
# with buildx for linux/amd64 and linux/arm64). Its files are exactly those of `make image-oci`:
# both come from release/rootfs (the binary, the shared libraries it links, CA certificates, the
# non-root user 65532); no shell, no package manager.
#   make image IMAGE=registry.example.com/postgres-reconciler:0.1.0

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Only what the build needs (benches/ because Cargo.toml declares bench targets).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY release/rootfs ./release/rootfs
# The registry and target caches survive between builds (BuildKit); the binary is copied out
# because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin postgres-reconciler \
 && install -D -m 0755 target/release/postgres-reconciler /out/postgres-reconciler
RUN release/rootfs /out/postgres-reconciler /rootfs

FROM scratch
LABEL org.opencontainers.image.title="postgres-reconciler" \
      org.opencontainers.image.description="One-shot PostgreSQL reconciler for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/postgres-reconciler/postgres-reconciler"
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/postgres-reconciler"]
CMD ["--help"]

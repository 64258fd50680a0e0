# syntax=docker/dockerfile:1
# The postgres-reconciler image: one static-ish binary on a distroless base, run as non-root.
#   make image IMAGE=registry.example.com/postgres-reconciler:0.1.0
# Build and push it in your CI; the chart's image.repository/image.tag point at it.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Only what the build needs (benches/ because Cargo.toml declares a bench target).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# The registry and target caches survive between builds (BuildKit); the binary is copied out
# because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin postgres-reconciler \
 && install -D -m 0755 target/release/postgres-reconciler /out/postgres-reconciler

# glibc, libgcc and CA certificates; no shell, no package manager. User nonroot = 65532:65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="postgres-reconciler" \
      org.opencontainers.image.description="One-shot PostgreSQL reconciler for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/postgres-reconciler /usr/local/bin/postgres-reconciler
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/postgres-reconciler"]
CMD ["--help"]

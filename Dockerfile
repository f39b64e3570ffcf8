# reinstate: a slim image that runs as a non-root user, with its sled state on a volume.
#   docker build -t reinstate .
#   docker run -p 8080:8080 -v reinstate-data:/data reinstate            # the sandbox
#   docker run -v $PWD/reinstate.toml:/etc/reinstate.toml:ro ... reinstate serve --config /etc/reinstate.toml
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked --bin reinstate \
 && mkdir -p /data

# glibc and CA roots only; no shell, no package manager. uid 65532 = "nonroot".
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/reinstate /usr/local/bin/reinstate
COPY --from=build --chown=65532:65532 /data /data
ENV REINSTATE__STORE__PATH=/data \
    REINSTATE__SERVER__LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/reinstate"]
CMD ["serve"]

# Builds the scimgate binary and runs it as an unprivileged user.
#
#   docker build -t scimgate .
#   docker run -p 8080:8080 -v scimgate-data:/var/lib/scimgate scimgate
#
# Without DATABASE_URL the server keeps a SQLite file in the data volume;
# set DATABASE_URL to a postgres:// URL for production (see
# docker-compose.yml).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin scimgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/scimgate scimgate \
    && mkdir -p /var/lib/scimgate \
    && chown scimgate /var/lib/scimgate
COPY --from=build /src/target/release/scimgate /usr/local/bin/scimgate
USER scimgate
ENV SCIMGATE_LISTEN=0.0.0.0:8080 \
    SCIMGATE_DATA_DIR=/var/lib/scimgate \
    SCIMGATE_LOG_FORMAT=json
VOLUME /var/lib/scimgate
EXPOSE 8080
ENTRYPOINT ["scimgate"]
CMD ["serve"]

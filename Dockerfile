# Multi-stage build of the idlog binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p idlog

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/idlog --create-home idlog
COPY --from=build /src/target/release/idlog /usr/local/bin/idlog
USER idlog
WORKDIR /var/lib/idlog
ENV IDLOG_SERVER_HOST=0.0.0.0 IDLOG_DATA_DIR=/var/lib/idlog/data
EXPOSE 8080
ENTRYPOINT ["idlog"]
CMD ["serve"]

# The fulfil service: `docker compose up` builds it from this repository.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p fulfil

FROM debian:bookworm-slim
# The data directory exists in the image, owned by the user the service
# runs as: a volume mounted there starts with that ownership.
RUN useradd --system --home /var/lib/fulfil fulfil && mkdir -p /var/lib/fulfil && chown fulfil /var/lib/fulfil
COPY --from=build /src/target/release/fulfil /usr/local/bin/fulfil
USER fulfil
ENV FULFIL_DATA_DIR=/var/lib/fulfil FULFIL_HTTP=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["fulfil"]
CMD ["serve"]

# A static komainu (musl) on a distroless base. These machines have no Docker
# engine, so CI does not build this image: keep it plain.
#   docker build -t komainu .
#   docker run -p 8080:8080 -p 8443:8443 -v komainu-data:/data komainu
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev git
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p komainu \
    && mkdir -p /out/data \
    && cp target/release/komainu /out/komainu

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/komainu /usr/local/bin/komainu
COPY --from=build --chown=65532:65532 /out/data /data
ENV FILEDB_PATH=/data
EXPOSE 8080 8443
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/komainu"]
CMD ["run"]

# syntax=docker/dockerfile:1
# Build: a static binary (templates, migrations, assets and tokenizer data are embedded).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/oneapi .

# Run: distroless, non-root. Use an external PostgreSQL (DATABASE_URL): the
# image has no PostgreSQL binaries for the private-database mode.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/oneapi /oneapi
ENV DATA_DIR=/data PORT=3000
VOLUME /data
EXPOSE 3000
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 CMD ["/oneapi", "healthcheck"]
ENTRYPOINT ["/oneapi"]
CMD ["serve"]

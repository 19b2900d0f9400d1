# syntax=docker/dockerfile:1
# The prexmon exporter: a static Go binary in an otherwise empty image, running
# as nobody. Build from the repository root:
#   docker build -f deploy/docker/exporter.Dockerfile -t prexmon/exporter .

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION}" \
      -o /out/exporter ./exporter && \
    mkdir -p /out/data

# busybox's static wget (about 1 MB) is the only extra, for the healthcheck.
FROM busybox:1.37-musl AS tools

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=tools /bin/busybox /bin/wget
COPY --from=build /out/exporter /bin/exporter
USER 65534:65534
EXPOSE 9110
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9110/healthz"]
ENTRYPOINT ["/bin/exporter"]

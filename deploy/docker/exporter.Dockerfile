# syntax=docker/dockerfile:1
# The prexmon exporter: a static Go binary in an otherwise empty image, running
# as nobody. Build from source, at the repository root:
#   docker build -f deploy/docker/exporter.Dockerfile -t prexmon/exporter .
# or from the binaries of a release (`make release`, or downloaded archives
# checked with `sha256sum -c --ignore-missing sha256sums.txt`), with their
# folder as the build context:
#   docker buildx build -f deploy/docker/exporter.Dockerfile --build-arg BINARIES=release \
#     --build-arg VERSION=0.1.0 --platform linux/amd64,linux/arm64 -t prexmon/exporter:0.1.0 dist

# Where /out/exporter comes from: "source" (go build here) or "release" (the
# linux archive of VERSION for the target platform).
ARG BINARIES=source

FROM golang:1.26-alpine AS source
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

# Only the archive is read from the context, so it can be dist/ alone; the
# stage runs on the build machine whatever the target platform.
FROM --platform=$BUILDPLATFORM golang:1.26-alpine AS release
ARG VERSION
ARG TARGETOS
ARG TARGETARCH
ADD prexmon-${VERSION}.${TARGETOS}-${TARGETARCH}.tar.gz /tmp/
RUN mkdir -p /out/data && mv /tmp/prexmon-${VERSION}.${TARGETOS}-${TARGETARCH}/exporter /out/exporter

FROM ${BINARIES} AS binaries

# busybox's static wget (about 1 MB) is the only extra, for the healthcheck.
FROM busybox:1.37-musl AS tools

FROM scratch
COPY --from=binaries /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=tools /bin/busybox /bin/wget
COPY --from=binaries /out/exporter /bin/exporter
USER 65534:65534
EXPOSE 9110
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9110/healthz"]
ENTRYPOINT ["/bin/exporter"]

# prexmon — see README.md. Every target works on a fresh machine with Go.
GO        ?= go
BIN       := bin
# The version: a tag vX.Y.Z on a clean checkout of the tagged commit gives
# X.Y.Z; anything else is 0.0.0-dev+<commit>[.dirty], which dpkg and rpm
# order below every release.
# A final tag wins over a release candidate tagging the same commit.
TAGS      := $(shell git tag --points-at HEAD --list 'v[0-9]*.[0-9]*.[0-9]*' 2>/dev/null | sort -V)
TAG       := $(or $(lastword $(foreach t,$(TAGS),$(if $(findstring -,$(t)),,$(t)))),$(lastword $(TAGS)))
DIRTY     := $(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo dirty)
SHORTREV  := $(or $(shell git rev-parse --short=12 HEAD 2>/dev/null),unknown)
VERSION   ?= $(if $(and $(TAG),$(if $(DIRTY),,clean)),$(patsubst v%,%,$(TAG)),0.0.0-dev+$(SHORTREV)$(if $(DIRTY),.dirty))
REVISION  ?= $(or $(shell git rev-parse HEAD 2>/dev/null),unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
# Build date = commit time, so that builds of one commit are identical.
SOURCE_DATE_EPOCH ?= $(or $(shell git log -1 --format=%ct 2>/dev/null),0)
BUILDDATE ?= $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y%m%d-%H:%M:%S 2>/dev/null || date -u -r $(SOURCE_DATE_EPOCH) +%Y%m%d-%H:%M:%S)
VPKG      := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) \
             -X $(VPKG).Branch=$(BRANCH) -X $(VPKG).BuildUser=prexmon -X $(VPKG).BuildDate=$(BUILDDATE)
PROGRAMS  := $(patsubst %/main.go,%,$(wildcard exporter/main.go archiver/main.go))
PROMTOOL  ?= promtool
# make release: every platform into dist/ unless told, e.g.
#   make release PLATFORMS=linux/amd64 DIST=/tmp/dist
DIST      ?= dist
PLATFORMS ?=

.PHONY: all build run test vet fmt-check unit windows stack-check release release-test version bench bench-wine load load-s3 dashboards clean

all: build

build:
	@mkdir -p $(BIN)
	@for p in $(PROGRAMS); do \
	  echo "go build $$p"; CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/$$p ./$$p || exit 1; \
	done

## run: the exporter and the archiver scraping it, data in ./data (Ctrl-C stops both).
run: build
	@./scripts/run-local.sh

## test: everything CI checks.
test: fmt-check vet windows unit release-test stack-check

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	 if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) -C tools/release vet ./...

windows:
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./exporter
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./exporter ./archiver

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

## release: archives, .deb/.rpm packages and sha256sums.txt in $(DIST) (tools/release).
release:
	$(GO) -C tools/release run . -root '$(CURDIR)' -dist '$(abspath $(DIST))' -go '$(GO)' \
	  -version '$(VERSION)' -revision '$(REVISION)' -source-date-epoch '$(SOURCE_DATE_EPOCH)' -platforms '$(PLATFORMS)'

## version: the version make build and make release stamp.
version:
	@echo '$(VERSION)'

## release-test: make release for the host's Linux platform, twice, and checks of what it wrote.
release-test:
	$(GO) -C tools/release test -count=1 -timeout 20m ./...

# promtool of the Prometheus image docker-compose.yml pins (prom/prometheus:v3.5.0 is the Go
# module github.com/prometheus/prometheus v0.305.0; deploy/compose_test.go checks they agree),
# built once into a cache outside the checkout and reused while it exists.
PROMTOOL3_MODULE := v0.305.0
PROMTOOL3_CACHE  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/prexmon
PROMTOOL3        ?= $(PROMTOOL3_CACHE)/promtool-$(PROMTOOL3_MODULE)/promtool

## stack-check: promtool over the Prometheus config and rules (skipped parts are reported),
## with Debian's promtool and with the one of the Prometheus docker-compose.yml runs.
stack-check: $(PROMTOOL3)
	@for p in $(PROMTOOL) $(PROMTOOL3); do \
	  echo "== $$($$p --version 2>&1 | sed -n 1p)"; \
	  if [ -f prometheus.yml ]; then $$p check config prometheus.yml || exit 1; fi; \
	  if ls deploy/prometheus/*.yml >/dev/null 2>&1; then $$p check rules $$(ls deploy/prometheus/*.yml | grep -v _test.yml) || exit 1; fi; \
	  if ls deploy/prometheus/*_test.yml >/dev/null 2>&1; then (cd deploy/prometheus && $$p test rules *_test.yml) || exit 1; fi; \
	done

$(PROMTOOL3):
	scripts/build-promtool.sh $(PROMTOOL3_MODULE) $@

## bench: the speed and memory figures reported in issue notes.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./exporter/... ./archiver/store/... ./archiver/api/... ./archiver/scrape/...
	$(GO) run ./tools/exporterbench -exporter $(BIN)/exporter -n 200

## load: one archiver against 5,000 fake agents at a 5 s interval on loopback (60 s, stops by itself).
load:
	$(GO) run ./tools/archiverload --agents=5000 --interval=5s --duration=60s

## load-s3: the same for 300 s with object storage on: closed segments (100 s max-age, so they upload during
## the run) go to versitygw on loopback (built once into ~/.cache/prexmon by scripts/build-versitygw.sh).
load-s3:
	test -x $(HOME)/.cache/prexmon/versitygw-v1.8.0 || scripts/build-versitygw.sh
	$(GO) run ./tools/archiverload --agents=5000 --interval=5s --duration=300s --s3-gateway=auto --segment-max-age=100s

## bench-wine: the Windows process-table benchmarks and a /metrics CPU figure under Wine.
bench-wine:
	tools/wine/bench.sh /tmp/prexmon-wine 150

## dashboards: regenerate dashboards/*.json from their Go definitions.
dashboards:
	$(GO) test ./dashboards -run TestFilesUpToDate -update

clean:
	rm -rf $(BIN) $(DIST)

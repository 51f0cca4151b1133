# The two commands: `make dev` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
GO ?= go
# DEVSTACK is the build tag that links `blink-consent dev` and internal/devstack
# (throwaway PostgreSQL, Hydra, demo app, Blink core stand-in). The production
# binary (`make build`, the Dockerfile) is built without it; the dev stack and
# the tests of cmd/blink-consent need it.
DEVSTACK := -tags devstack
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: dev test check chart rules generate unit bench fuzz loadtest soak rolling profile build build-dev image clean

## dev: start PostgreSQL, Hydra, demo clients, this service and a demo app; print the URL to try.
## DEV_FLAGS passes dev its flags, e.g. DEV_FLAGS="--port 3001 --demo-port 5556" or "--identity blink".
dev: bin/hydra build-dev
	bin/blink-consent-dev dev $(DEV_FLAGS)

## test: every check and every test (unit, integration on real PostgreSQL + Hydra, browser in Chromium with axe-core, the Helm chart), under the race detector.
test: check chart rules bin/hydra
	./scripts/ensure-chromium.sh
	./scripts/ensure-axe.sh
	./scripts/ensure-haproxy.sh
	$(GO) test $(DEVSTACK) -race -count=1 -timeout 30m ./...
	GO=$(GO) ./scripts/unit.sh

## check: go.mod/go.sum tidy, generated code current, gofmt clean, go vet clean (with and without the dev stack).
check:
	@diff="$$($(GO) mod tidy -diff)" || { [ -z "$$diff" ] || \
		echo "go.mod/go.sum are not tidy: run \`go mod tidy\` and commit the result" >&2; echo "$$diff" >&2; exit 1; }
	$(GO) tool templ generate >/dev/null
	@if [ -d .git ] && ! git diff --quiet -- '*_templ.go'; then \
		echo "templ output was stale: commit the regenerated *_templ.go files" >&2; git diff --stat -- '*_templ.go' >&2; exit 1; fi
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
		if [ -n "$$out" ]; then echo "gofmt needed on:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) vet $(DEVSTACK) ./...

## chart: helm lint and helm template of deploy/helm/blink-consent, for the default values (plus the required publicUrl and trustedProxies, ci/required-values.yaml), with every option on, and in DEV_MODE (deploy/chart_test.go decodes them strictly).
CHART := deploy/helm/blink-consent
chart: bin/helm
	bin/helm lint --strict $(CHART) --values $(CHART)/ci/required-values.yaml
	bin/helm lint --strict $(CHART) --values $(CHART)/ci/all-on-values.yaml
	bin/helm lint --strict $(CHART) --values $(CHART)/ci/dev-values.yaml
	bin/helm template consent $(CHART) --values $(CHART)/ci/required-values.yaml >/dev/null
	bin/helm template consent $(CHART) --values $(CHART)/ci/all-on-values.yaml >/dev/null
	bin/helm template consent $(CHART) --values $(CHART)/ci/dev-values.yaml >/dev/null

## rules: promtool check rules and promtool test rules (Prometheus's own tool) on the alert rules the chart ships: every alert fires and stays quiet when it should.
RULES := $(CHART)/files/prometheus-rules.yaml
rules: bin/promtool
	bin/promtool check rules $(RULES)
	bin/promtool test rules deploy/prometheus-rules.test.yaml

## generate: regenerate templ components.
generate:
	$(GO) tool templ generate

## unit: the fast tests only (no PostgreSQL, Hydra, Chromium or Helm: the chart's tests in deploy/ run in `make test`), with coverage; fails when login, consent, logout or account covers under 60% of its statements.
unit:
	GO=$(GO) ./scripts/unit.sh

## fuzz: every fuzz target for FUZZTIME each (default 30s); findings land in testdata/fuzz as regression inputs.
fuzz:
	./scripts/fuzz.sh

## bench: the handler benchmarks quoted in docs/performance.md.
bench:
	$(GO) test $(DEVSTACK) -run '^$$' -bench . -benchmem -count 5 ./login ./consent ./internal/totp ./internal/store ./internal/hydra ./server

## loadtest: real sign-ins through Hydra against this service and a minimal provider (the floor), round by round; prints flows/s, latency, CPU per flow, peak RSS and the ratios to the floor (docs/performance.md).
# Its defaults: -path skip,email (the skip path's CPU floor, then the email path's time to code) -concurrency 8,64 -duration 15s -rounds 3; LOADTEST_MODE=soak makes it the soak.
LOADTEST_FLAGS ?=
loadtest: bin/hydra build bin/loadtest
	bin/loadtest $(LOADTEST_FLAGS)

## soak: 60 s at 64 browsers on mixed paths; fails on any error, RSS growth or goroutine growth (same as LOADTEST_MODE=soak make loadtest).
soak: bin/hydra build bin/loadtest
	bin/loadtest -mode soak $(SOAK_FLAGS)

## rolling: two replicas behind HAProxy, 64 browsers on mixed paths, each replica replaced (SIGTERM, exit, a new process) twice over; fails on any failed flow or 5xx. `ROLLING_FLAGS=-kill` SIGKILLs one replica instead.
ROLLING_FLAGS ?=
rolling: bin/hydra build bin/loadtest
	./scripts/ensure-haproxy.sh
	bin/loadtest -mode rolling $(ROLLING_FLAGS)

## profile: a CPU profile of this service under the skip-path load, in bin/service.pprof (`go tool pprof -top bin/service.pprof`).
profile: bin/hydra bin/loadtest
	CGO_ENABLED=0 $(GO) build -tags pprof -trimpath -o bin/blink-consent-pprof ./cmd/blink-consent
	bin/loadtest -service bin/blink-consent-pprof -path skip -concurrency 8 -rounds 1 -cpuprofile bin/service.pprof

.PHONY: bin/loadtest
bin/loadtest:
	CGO_ENABLED=0 $(GO) build $(DEVSTACK) -trimpath -o bin/loadtest ./cmd/loadtest

## build: the production binary, bin/blink-consent (no dev stack).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/blink-consent ./cmd/blink-consent

## build-dev: bin/blink-consent-dev, with `blink-consent dev` and the dev stack linked in.
build-dev:
	CGO_ENABLED=0 $(GO) build $(DEVSTACK) -trimpath -ldflags "$(LDFLAGS)" -o bin/blink-consent-dev ./cmd/blink-consent

## image: the container image blink-consent:$(VERSION), told its version and commit (.git is not copied in).
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t blink-consent:$(VERSION) .

# Ory Hydra v2.3.0, built from the Go module proxy through the pinned module in tools/hydra.
bin/hydra: tools/hydra/go.mod tools/hydra/go.sum
	cd tools/hydra && CGO_ENABLED=0 $(GO) build -trimpath -o ../../bin/hydra github.com/ory/hydra/v2
	@touch bin/hydra

# Helm v3.22.0, built from the Go module proxy through the pinned module in tools/helm.
# The -X flags are those of Helm's own release build: its version, and the
# Kubernetes version of its client-go (1.37), which `helm template` renders for and
# `helm lint` checks deprecated APIs against (v1.20 without them).
bin/helm: tools/helm/go.mod tools/helm/go.sum
	cd tools/helm && helm=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3) && \
		k8s=$$($(GO) list -m -f '{{.Version}}' k8s.io/client-go) && minor=$${k8s#v0.} && minor=$${minor%%.*} && \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X helm.sh/helm/v3/internal/version.version=$$helm \
			-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$minor \
			-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$minor" \
		-o ../../bin/helm helm.sh/helm/v3/cmd/helm
	@touch bin/helm

# Prometheus's promtool, built from the Go module proxy through the pinned module in
# tools/promtool (github.com/prometheus/prometheus v0.316.0 is Prometheus 3.16.0). The first
# build takes many minutes (Prometheus links every service discovery); bin/ keeps it after.
bin/promtool: tools/promtool/go.mod tools/promtool/go.sum
	cd tools/promtool && v=$$($(GO) list -m -f '{{.Version}}' github.com/prometheus/prometheus) && \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X github.com/prometheus/common/version.Version=$$v" \
		-o ../../bin/promtool github.com/prometheus/prometheus/cmd/promtool
	@touch bin/promtool

clean:
	rm -rf bin


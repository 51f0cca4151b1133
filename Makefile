# The two commands: `make dev` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
GO ?= go

.PHONY: dev test check generate unit bench fuzz build clean

## dev: start PostgreSQL, Hydra, demo clients, this service and a demo app; print the URL to try.
dev: bin/hydra build
	bin/blink-consent dev

## test: every check and every test (unit, integration on real PostgreSQL + Hydra, browser in Chromium), under the race detector.
test: check bin/hydra
	./scripts/ensure-chromium.sh
	$(GO) test -race -count=1 -timeout 30m ./...

## check: generated code current, gofmt clean, go vet clean.
check:
	$(GO) tool templ generate >/dev/null
	@if [ -d .git ] && ! git diff --quiet -- '*_templ.go'; then \
		echo "templ output was stale: commit the regenerated *_templ.go files" >&2; git diff --stat -- '*_templ.go' >&2; exit 1; fi
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
		if [ -n "$$out" ]; then echo "gofmt needed on:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...

## generate: regenerate templ components.
generate:
	$(GO) tool templ generate

## unit: the fast tests only (no PostgreSQL, Hydra or Chromium).
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /cmd/ -e /internal/store -e '/internal/accounts$$')

## fuzz: every fuzz target for FUZZTIME each (default 30s); findings land in testdata/fuzz as regression inputs.
fuzz:
	./scripts/fuzz.sh

## bench: the handler benchmarks quoted in docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./login ./consent ./internal/totp

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/blink-consent ./cmd/blink-consent

# Ory Hydra v2.3.0, built from the Go module proxy through the pinned module in tools/hydra.
bin/hydra: tools/hydra/go.mod tools/hydra/go.sum
	cd tools/hydra && CGO_ENABLED=0 $(GO) build -trimpath -o ../../bin/hydra github.com/ory/hydra/v2
	@touch bin/hydra

clean:
	rm -rf bin

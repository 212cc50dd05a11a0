# The README's two commands: `make run` (or `go run .`) and `make test`.
GO ?= go

.PHONY: run build test vet generate check-generated bench bench-cluster

run:
	$(GO) run .

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/oneapi .

vet:
	$(GO) vet ./...

generate:
	$(GO) tool sqlc generate
	$(GO) tool templ generate

# Generated code is committed; regenerating must change nothing.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- queries views)" ]; then \
		echo "generated code is stale: run 'make generate' and commit"; git status --porcelain -- queries views; exit 1; fi

test: vet check-generated
	$(GO) test -race -count=1 ./...

bench:
	$(GO) run ./bench

# Two gateway processes on one PostgreSQL: invalidation latency, database work
# per request with one node and two, channel-test jobs run exactly once.
bench-cluster:
	$(GO) run ./bench cluster

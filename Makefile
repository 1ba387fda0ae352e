# hookd: the documented commands. `make test` is what CI runs.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GO      ?= go

.PHONY: run build test test-short bench lint fuzz clean

## run: start hookd on its embedded SQLite default (./hookd.db, 127.0.0.1:8080)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/hookd serve

## build: build ./bin/hookd with the version stamped in
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hookd ./cmd/hookd

## test: vet, then the whole suite with the race detector (crash tests included)
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

## test-short: the suite without the slow end-to-end and crash tests
test-short:
	$(GO) test -short -count=1 ./...

## bench: hookd bench with the issue's numbers (10 endpoints, 50,000 events)
bench: build
	./bin/hookd bench --endpoints 10 --events 50000
	./bin/hookd bench --endpoints 10 --events 20000 --rate 1000

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## fuzz: run every fuzz target briefly (FUZZTIME=30s to change)
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin hookd.db hookd.db-wal hookd.db-shm

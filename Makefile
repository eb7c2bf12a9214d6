# edgecdn — a thin layer over the go tool. `make help` lists the targets.

GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/edgecdn/edgecdn/edge.Version=$(VERSION)
BIN      := bin
FUZZTIME ?= 10s
# Fuzz targets as package:Func.
FUZZ := ./cache/:FuzzParseDirectives ./cache/:FuzzAppendKey ./cache/:FuzzPrefixDir ./edge/internal/h1/:FuzzParseRequest \
        ./edge/internal/confload/:FuzzDecode ./edge/internal/confload/:FuzzParseSize ./edge/demo/:FuzzPath \
        ./edge/:FuzzParseAcceptEncoding ./edge/:FuzzParseRanges ./edge/:FuzzPurgeBody ./origin/:FuzzParseStatusRange \
        ./geodata/:FuzzCoverageFile ./geodata/:FuzzLocate ./geodata/:FuzzDatabase ./dnsserver/:FuzzServeUDP \
        ./bgp/:FuzzParseCommunity ./bgp/:FuzzParseLargeCommunity ./bgp/:FuzzConfig

.PHONY: help build run test test-integration smoke fuzz bench lint check generate clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

build: ## build bin/edged and bin/edgectl
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/edged ./cmd/edged
	$(GO) build -trimpath -o $(BIN)/edgectl ./cmd/edgectl

run: build ## run one node on loopback with the embedded demo config (HTTP :8080, admin :9090, DNS :8053)
	$(BIN)/edged -log-format text

test: lint ## vet, format check, all tests with -race, then a smoke test of the binary (what CI runs)
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags h1qdelay ./edge/internal/h1/
	$(MAKE) --no-print-directory smoke

test-integration: ## the end-to-end tests only (real origins, a whole node)
	$(GO) test -race -count=1 -run 'Test' ./edge/...

smoke: build ## start the binary with the embedded config, check a miss, a hit and the admin server, stop it
	./scripts/smoke.sh $(BIN)/edged

fuzz: ## run every fuzz target for FUZZTIME (default 10s)
	@GO=$(GO) ./scripts/fuzz.sh $(FUZZTIME) $(FUZZ)

bench: ## hot-path benchmarks (allocations reported)
	$(GO) test -run='^$$' -bench=. -benchmem ./cache/ ./edge/ ./edge/internal/h1/ ./origin/ ./geodata/ ./dnsserver/

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags h1qdelay ./edge/internal/h1/

check: lint test ## everything CI checks

generate: ## nothing is generated yet
	@true

clean: ## remove build output
	rm -rf $(BIN)

GO      ?= go
FUZZTIME ?= 15s
BIN     := bin

.PHONY: build test bench fuzz vet run lint
build:
	$(GO) build -o $(BIN)/ ./cmd/...

test:
	$(GO) test -count=1 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# Each fuzz target runs for FUZZTIME; go test allows one -fuzz target per run.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/request
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/eligibility
	$(GO) test -run='^$$' -fuzz='^FuzzBearerToken$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/identity

vet:
	$(GO) vet ./...
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

run: build
	$(BIN)/elevate-broker --listen 127.0.0.1:8080 --ledger .

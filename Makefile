GO      ?= go
FUZZTIME ?= 15s
BIN     := bin

.PHONY: build test bench fuzz vet run demo
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
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

# The whole story on this machine, against local stand-ins for GitHub and AWS.
demo: build
	$(GO) run ./internal/demo/cmd/elevate-demo -bin $(BIN)

# The broker alone, with this checkout as its ledger.
run: build
	$(BIN)/elevate-broker --listen 127.0.0.1:8080 --ledger . --trust-anchor $$(git rev-list --max-parents=0 HEAD)

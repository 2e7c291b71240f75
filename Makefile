GO      ?= go
FUZZTIME ?= 15s
BIN     := bin
DIST    := dist
# Release builds: static, reproducible paths, the VCS revision recorded for --version.
RELEASE := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=true -ldflags='-s -w'
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
COMMANDS  ?= elevate elevate-action elevate-broker
LAMBDA_ARCHS ?= arm64 amd64

.PHONY: build test bench fuzz vet run demo dist lambda action-pin sandbox sandbox-stop
build:
	$(GO) build -buildvcs=true -o $(BIN)/ ./cmd/...

# The three binaries for each platform, with SHA-256 checksums.
dist:
	rm -rf $(DIST) && mkdir -p $(DIST)
	for p in $(PLATFORMS); do for c in $(COMMANDS); do \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(RELEASE) -o $(DIST)/$${c}_$${p%/*}_$${p#*/} ./cmd/$$c || exit 1; \
	done; done
	cd $(DIST) && sha256sum $(foreach c,$(COMMANDS),$(c)_*) > SHA256SUMS

# A release: after make dist, write the elevate-action checksums into
# action.yml, commit, tag that commit, and upload dist/ to the tag's release.
# RELEASE_URL is where the binaries will be, e.g.
# https://github.com/elevate-gitops/elevate/releases/download/v1.2.0
action-pin:
	@test -n "$(RELEASE_URL)" || { echo "make action-pin RELEASE_URL=https://github.com/OWNER/elevate/releases/download/TAG"; exit 2; }
	$(GO) run ./internal/release/cmd/pin-action -action action.yml -sums $(DIST)/SHA256SUMS -url "$(RELEASE_URL)"

# The broker as AWS Lambda bootstrap zips for provided.al2023 (arm64, amd64).
lambda:
	mkdir -p $(DIST)/lambda
	for a in $(LAMBDA_ARCHS); do \
		rm -rf $(DIST)/lambda/$$a && mkdir -p $(DIST)/lambda/$$a && \
		GOOS=linux GOARCH=$$a $(RELEASE) -tags lambda.norpc -o $(DIST)/lambda/$$a/bootstrap ./cmd/elevate-broker && \
		(cd $(DIST)/lambda/$$a && rm -f ../elevate-broker-lambda-$$a.zip && zip -q -X ../elevate-broker-lambda-$$a.zip bootstrap) || exit 1; \
	done
	cd $(DIST)/lambda && sha256sum elevate-broker-lambda-*.zip > SHA256SUMS

# Every test, one line per package; skipped tests are listed with their
# reason at the end (gotestsum's summary), never silent.
test:
	$(GO) tool gotestsum --format pkgname --format-hide-empty-pkg -- -count=1 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# Each fuzz target runs for FUZZTIME; go test allows one -fuzz target per run.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/request
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/eligibility
	$(GO) test -run='^$$' -fuzz='^FuzzBearerToken$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./internal/identity

vet:
	$(GO) mod tidy -diff
	@unformatted=$$(gofmt -l cmd internal deploy); if [ -n "$$unformatted" ]; then echo "gofmt -w these files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool actionlint

# The whole story on this machine, against local stand-ins for GitHub and AWS.
demo: build
	$(GO) run ./internal/demo/cmd/elevate-demo -bin $(BIN)

# The demo's stand-ins and a real broker, left running to try every command
# by hand: it prints what to try and writes $(SANDBOX)/env to source.
SANDBOX ?= .sandbox
sandbox: build
	$(GO) build -o $(BIN)/elevate-sandbox ./internal/demo/cmd/elevate-sandbox
	$(BIN)/elevate-sandbox start --dir $(SANDBOX) --bin $(BIN)

sandbox-stop:
	@if [ -x $(BIN)/elevate-sandbox ]; then $(BIN)/elevate-sandbox stop --dir $(SANDBOX); else echo "no sandbox was started here"; fi

# The broker alone, with this checkout as its ledger.
run: build
	$(BIN)/elevate-broker --listen 127.0.0.1:8080 --ledger . --trust-anchor $$(git rev-list --max-parents=0 HEAD)

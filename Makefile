# servicebus — developer and CI entry points. `make help` lists the targets.
# Every variable below can be set on the command line: make fuzz FUZZTIME=10s

GO           ?= go
PKGS         ?= ./...
TEST_TIMEOUT ?= 30m
# Extra flags for go test, e.g. GOTEST_FLAGS='-run TestConfig -v'.
GOTEST_FLAGS ?=
# make lint runs this staticcheck (from the Go module proxy the first time;
# its checks are in staticcheck.conf). STATICCHECK= skips it.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Fault tests (throwaway brokers killed, restarted, cut off) live behind a
# build tag, so that make test stays quick; make test-faults runs them.
FAULT_TAGS    ?= faults
FAULT_PKGS    ?= ./internal/faulttest/
FAULT_TIMEOUT ?= 20m

# Cluster tests (a 3-node RabbitMQ cluster of throwaway nodes, quorum
# queues, agent processes) live behind a build tag too. One package at a
# time (-p 1): two clusters booting at once on 2 cores only slow each other.
CLUSTER_TAGS    ?= cluster
CLUSTER_PKGS    ?= ./internal/brokertest/ ./internal/clustertest/
CLUSTER_RUN     ?= Cluster
CLUSTER_TIMEOUT ?= 10m

# Timing promises that the race detector slows several fold (the agent
# scanning 140 KB names): make test runs them a second time without -race,
# where they are asserted as published (internal/testkit/race.go).
# Run with the default PKGS only (make test PKGS=... tests just those).
TIMING_PKGS ?= $(if $(filter ./...,$(PKGS)),./internal/securitytest/)
TIMING_RUN  ?= TestHugeServiceNameIsAnsweredWithoutLosingTheConnection|TestRequestWhoseReplyClosesTheConnectionTwiceIsRejected

# Fuzzing: every FuzzXxx in FUZZ_PKGS runs for FUZZTIME (found with go test -list).
FUZZTIME  ?= 60s
FUZZ_PKGS ?= ./...
# make fuzz-ci: the packages that have a fuzz target, FUZZ_CI_TIME each.
# A count of inputs, not a duration: Go 1.26's fuzzing coordinator can fail
# a target with "context deadline exceeded" and no crasher when a duration
# runs out (golang/go#75804, fixed in Go 1.27); a count has no deadline.
FUZZ_CI_TIME ?= 100000x
# (hidden directories, such as a module cache in .cache/, are not searched)
FUZZ_CI_PKGS ?= $(addprefix ./,$(sort $(dir $(shell grep -rl --include='*_test.go' --exclude-dir='.?*' '^func Fuzz' . 2>/dev/null | sed 's|^\./||'))))

# Mutation testing (make mutants): gremlins' one-line mutants of MUTANT_PKGS,
# each run against its package's tests; by hand, not in CI (hours on 2
# cores). docs/testing.md says what survived and why.
MUTANT_PKGS ?= ./pkg/codec/ ./pkg/token/ ./pkg/broker/ ./internal/publish/ ./pkg/failover/ ./pkg/router/ ./pkg/rpc/

BIN ?= bin

.DEFAULT_GOAL := help
.PHONY: help build demo test test-faults test-cluster fuzz fuzz-ci mutants lint fmt broker clean

help: ## list the targets
	@echo "Usage: make TARGET [VAR=value ...]"
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: PKGS=$(PKGS) TEST_TIMEOUT=$(TEST_TIMEOUT) FUZZTIME=$(FUZZTIME) FAULT_TAGS=$(FAULT_TAGS) CLUSTER_TAGS=$(CLUSTER_TAGS)"
	@echo "Tests use SERVICEBUS_TEST_URL (default amqp://guest:guest@127.0.0.1:5672/); CI set (not false or 0) makes a missing broker a failure."

broker: ## make sure a RabbitMQ answers at SERVICEBUS_TEST_URL (starts or installs one)
	scripts/rabbitmq.sh ensure

build: ## compile every package and the CLI into bin/
	$(GO) build ./...
	@if ls cmd/servicebus/*.go >/dev/null 2>&1; then \
		echo "$(GO) build -o $(BIN)/servicebus ./cmd/servicebus"; \
		$(GO) build -o $(BIN)/servicebus ./cmd/servicebus; \
	fi

test: broker ## ensure a broker, then go test -race -count=1 every package (and the timing promises without -race)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(GOTEST_FLAGS) $(PKGS)
	@# promises in time that -race slows several fold: asserted as published without it
	$(if $(TIMING_PKGS),$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '$(TIMING_RUN)' $(GOTEST_FLAGS) $(TIMING_PKGS))

test-faults: broker ## fault tests: throwaway brokers killed and cut off (-tags $(FAULT_TAGS))
	$(GO) test -race -count=1 -v -timeout $(FAULT_TIMEOUT) -tags '$(FAULT_TAGS)' $(GOTEST_FLAGS) $(FAULT_PKGS)
	@# watermill-amqp races on reconnect (watermill#693): its fault tests are built !race
	$(GO) test -count=1 -v -timeout $(FAULT_TIMEOUT) -tags '$(FAULT_TAGS)' -run 'WatermillAMQP' $(GOTEST_FLAGS) $(FAULT_PKGS)

test-cluster: ## cluster tests: 3-node RabbitMQ cluster, quorum queues, agents scaled out (-tags $(CLUSTER_TAGS))
	$(GO) test -race -count=1 -v -p 1 -timeout $(CLUSTER_TIMEOUT) -tags '$(CLUSTER_TAGS)' -run '$(CLUSTER_RUN)' $(GOTEST_FLAGS) $(CLUSTER_PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' scripts/fuzz.sh $(FUZZ_PKGS)

fuzz-ci: ## what CI runs: every fuzz target for FUZZ_CI_TIME (100000x: 100,000 inputs) each
	GO='$(GO)' FUZZTIME='$(FUZZ_CI_TIME)' scripts/fuzz.sh $(FUZZ_CI_PKGS)

mutants: broker ## mutation testing of the core packages with gremlins (by hand, hours; results in .mutants/)
	GO='$(GO)' scripts/mutants.sh $(MUTANT_PKGS)

lint: ## gofmt must list nothing; go vet; staticcheck
	@files=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags '$(FAULT_TAGS)' ./...
	$(GO) vet -tags '$(CLUSTER_TAGS)' ./...
	$(if $(STATICCHECK),$(STATICCHECK) ./...)
	$(if $(STATICCHECK),$(STATICCHECK) -tags '$(FAULT_TAGS)' ./...)
	$(if $(STATICCHECK),$(STATICCHECK) -tags '$(CLUSTER_TAGS)' ./...)

fmt: ## gofmt -w every Go file
	gofmt -w $$(git ls-files '*.go')

demo: ## ensure a broker, run examples/mathagent as NODE-01, call/send/ping it with the CLI, stop it (its queue stays)
	bash scripts/demo.sh

clean: ## remove build output
	rm -rf $(BIN)

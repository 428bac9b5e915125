//go:build faults

// Package faulttest breaks real brokers under a running agent and sender:
// SIGKILL, restart, a cut network, a killed agent, a memory alarm. Run with
//
//	go test -race -count=1 -tags faults -timeout 20m -v ./internal/faulttest/
//
// Every test logs its measured figures and ends with a line starting
// "FIGURES".
package faulttest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

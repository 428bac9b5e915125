//go:build cluster

// Package clustertest runs agents and senders on a RabbitMQ cluster of three
// throwaway nodes (brokertest.StartCluster) with durable topology, so the
// node queue is a quorum queue with a replica on every node. Agents run as
// child processes of the test binary, so that they can be killed with
// SIGKILL. Run with
//
//	make test-cluster
//	go test -race -count=1 -tags cluster -timeout 10m -v ./internal/clustertest/
//
// Every test logs its measured figures on lines starting "FIGURES".
package clustertest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

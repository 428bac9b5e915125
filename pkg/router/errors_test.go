package router_test

import (
	"errors"
	"testing"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
)

func TestErrClosedIsTheBrokersClosedError(t *testing.T) {
	if !errors.Is(router.ErrClosed, broker.ErrClosed) {
		t.Fatalf("%v does not match broker.ErrClosed", router.ErrClosed)
	}
}

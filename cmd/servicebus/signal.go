package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// signalError is the cause of a command's context when SIGINT or SIGTERM
// stopped it. It matches context.Canceled. The exit code is 128 + the
// signal's number, as a shell reports a process killed by it: 130 for
// SIGINT (Ctrl-C), 143 for SIGTERM.
type signalError struct{ sig syscall.Signal }

func (e *signalError) Error() string { return "interrupted (" + signalName(e.sig) + ")" }

func (e *signalError) Is(target error) bool { return target == context.Canceled }

func (e *signalError) exitCode() int { return 128 + int(e.sig) }

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// signalContext is cancelled by SIGINT or SIGTERM, with a *signalError as its
// cause (context.Cause). The cancel func stops listening.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			sig, _ := s.(syscall.Signal)
			cancel(&signalError{sig: sig})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel(context.Canceled)
		})
	}
}

// interrupted is the signal that cancelled ctx, as the error of the command,
// or err when no signal did: whatever a call returned once its context was
// cancelled, the command was interrupted.
func interrupted(ctx context.Context, err error) error {
	var sig *signalError
	if err != nil && errors.As(context.Cause(ctx), &sig) {
		return sig
	}
	return err
}

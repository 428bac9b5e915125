package router

import (
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// RetryConfig bounds the retries of a failing message service.
type RetryConfig struct {
	// MaxRetries after the first attempt; 0 means DefaultMessageRetries,
	// negative turns retry off.
	MaxRetries int
	// InitialInterval before the first retry (0: DefaultRetryInitialInterval),
	// doubled up to MaxInterval (0: DefaultRetryMaxInterval), with ±50 %
	// jitter.
	InitialInterval time.Duration
	MaxInterval     time.Duration
}

func (c *RetryConfig) setDefaults() {
	orDefault(&c.MaxRetries, DefaultMessageRetries)
	orDefault(&c.InitialInterval, DefaultRetryInitialInterval)
	orDefault(&c.MaxInterval, DefaultRetryMaxInterval)
}

// Retry is the retry policy of message services: Watermill's
// middleware.Retry with RetryConfig's bounds, which gives up at once on a
// permanent error (IsPermanent: a bad request, a bad token, an unknown
// service, a passed deadline, a panic, or an error marked with Permanent).
// RPCs are never retried: the caller decides. It runs after Deadline, so
// every attempt has the caller's deadline in its context.
type Retry struct {
	RetryConfig
	// Logger gets a line for every retry; nil: no lines.
	Logger watermill.LoggerAdapter
}

// Middleware is Retry as Watermill handler middleware; with MaxRetries
// negative it returns h unchanged.
func (r Retry) Middleware(h message.HandlerFunc) message.HandlerFunc {
	cfg := r.RetryConfig
	cfg.setDefaults()
	if cfg.MaxRetries < 0 {
		return h
	}
	return middleware.Retry{
		MaxRetries:          cfg.MaxRetries,
		InitialInterval:     cfg.InitialInterval,
		MaxInterval:         cfg.MaxInterval,
		Multiplier:          2,
		RandomizationFactor: 0.5,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !IsPermanent(p.Err) },
		Logger:              r.Logger,
	}.Middleware(h)
}

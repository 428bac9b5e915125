package udplog_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus/pkg/udplog"
)

// A collector and a process logging to it through the logrus hook.
func Example() {
	dir, _ := os.MkdirTemp("", "udplog-example")
	defer os.RemoveAll(dir)
	srv, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: filepath.Join(dir, "app.log")}, nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	hook, err := udplog.NewHook(udplog.HookConfig{Addr: srv.Addr().String()})
	if err != nil {
		panic(err)
	}
	defer hook.Close()
	log := logrus.New()
	log.Out = io.Discard
	log.AddHook(hook)
	log.WithField("order", 7).Info("shipped")

	for deadline := time.Now().Add(5 * time.Second); srv.Stats().Written < 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	fmt.Println(srv.Stats().Written, "record written")
	// Output: 1 record written
}

// The log/slog handler sends the same datagrams.
func ExampleNewSlogHandler() {
	c, err := udplog.Dial("127.0.0.1:9999")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	log := slog.New(udplog.NewSlogHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Debug("cache warm", "entries", 1200)
}

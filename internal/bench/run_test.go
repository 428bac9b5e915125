package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
)

func TestRunMeasuresBothSidesAndDeletesItsQueues(t *testing.T) {
	url := brokerURL(t)
	dir := t.TempDir()
	prof := Profiles{CPU: filepath.Join(dir, "cpu.out")}
	suffix := randomSuffix()
	rows, err := Run(context.Background(), Options{
		URL: url, Modes: []string{ModeRPC, ModeSend}, Impls: []string{ImplFloor, ImplServicebus},
		Concurrency: []int{1, 2}, N: 20, Rounds: 2, Timeout: 10 * time.Second,
		ServerCommand: testServerCommand, Profiles: prof, Suffix: suffix,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8 (2 modes x 2 impls x 2 concurrencies): %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.CallsPerS <= 0 || r.P50us <= 0 || r.P99us < r.P50us {
			t.Errorf("%s %s c=%d: calls/s %v, p50 %v, p99 %v", r.Mode, r.Impl, r.Concurrency, r.CallsPerS, r.P50us, r.P99us)
		}
		if r.Caller.AllocsPerCall <= 0 || r.Caller.BytesPerCall <= 0 {
			t.Errorf("%s %s c=%d: caller side %+v has no allocations", r.Mode, r.Impl, r.Concurrency, r.Caller)
		}
		switch r.Mode {
		case ModeRPC:
			if r.Server == nil || r.Server.AllocsPerCall <= 0 {
				t.Errorf("rpc %s c=%d: server side %+v has no allocations", r.Impl, r.Concurrency, r.Server)
			} else if sum := round1(r.Caller.CPUusPerCall + r.Server.CPUusPerCall); r.CPUusPerCall != sum {
				t.Errorf("rpc %s c=%d: cpu/call %v is not caller + server (%v)", r.Impl, r.Concurrency, r.CPUusPerCall, sum)
			}
		case ModeSend:
			if r.Server != nil {
				t.Errorf("send %s c=%d: a server side %+v", r.Impl, r.Concurrency, r.Server)
			}
		}
		if (r.Impl == ImplFloor) != (r.Ratio == 0) {
			t.Errorf("%s %s c=%d: ratio %v", r.Mode, r.Impl, r.Concurrency, r.Ratio)
		}
	}
	for _, name := range []string{prof.CPU, prof.CPU + ServerSuffix} {
		if st, err := os.Stat(name); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	requireNoQueues(t, url, suffix)
}

func TestRunExperimentsHaveAServerSideEach(t *testing.T) {
	url := brokerURL(t)
	suffix := randomSuffix()
	rows, err := Run(context.Background(), Options{
		URL: url, Modes: []string{ModeRPC, ModeSend}, Impls: Impls, Concurrency: []int{2}, N: 10, Rounds: 1,
		Timeout: 10 * time.Second, ServerCommand: testServerCommand, Suffix: suffix,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Eight implementations in rpc mode; in send mode the floor, servicebus
	// and the trace-context experiment.
	if len(rows) != 11 {
		t.Fatalf("%d rows, want 11: %+v", len(rows), rows)
	}
	for _, r := range rows[:8] {
		if r.Server == nil || r.Server.AllocsPerCall <= 0 || r.Caller.AllocsPerCall <= 0 {
			t.Errorf("%s: caller %+v, server %+v", r.Impl, r.Caller, r.Server)
		}
	}
	requireNoQueues(t, url, suffix)
}

func TestRunRefusesBadOptionsBeforeDialling(t *testing.T) {
	good := Options{URL: "amqp://127.0.0.1:1/", Modes: []string{ModeSend}, Impls: []string{ImplFloor},
		Concurrency: []int{1}, N: 1, Rounds: 1, Timeout: time.Second}
	for name, change := range map[string]func(*Options){
		"mode":          func(o *Options) { o.Modes = []string{"rcp"} },
		"impl":          func(o *Options) { o.Impls = []string{"amqp"} },
		"concurrency":   func(o *Options) { o.Concurrency = []int{0} },
		"calls":         func(o *Options) { o.N = 0 },
		"rounds":        func(o *Options) { o.Rounds = 0 },
		"timeout":       func(o *Options) { o.Timeout = 0 },
		"rpc no server": func(o *Options) { o.Modes = []string{ModeRPC} },
	} {
		opt := good
		change(&opt)
		if _, err := Run(context.Background(), opt); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
	}
}

func brokerURL(t *testing.T) string { return brokertest.RequireBroker(t) }

// requireNoQueues fails if a queue of the run is left on the broker.
func requireNoQueues(t *testing.T, url, suffix string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range queueNames(suffix) {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclarePassive(q, false, false, false, false, nil); err == nil {
			t.Errorf("queue %s left behind", q)
			ch.QueueDelete(q, false, false, false)
			ch.Close()
		}
	}
}

func TestRunFailsAtOnceOnAProfileItCannotWrite(t *testing.T) {
	for _, prof := range []Profiles{{CPU: "/no/such/dir/cpu.out"}, {Trace: "/no/such/dir/trace.out"}, {Mutex: "/no/such/dir/mutex.out"}, {Alloc: "/no/such/dir/alloc.out"}} {
		_, err := Run(context.Background(), Options{URL: "amqp://127.0.0.1:1/", Modes: []string{ModeSend}, Impls: []string{ImplFloor},
			Concurrency: []int{1}, N: 1, Rounds: 1, Timeout: time.Second, Profiles: prof})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%+v: %v, want the file's error", prof, err)
		}
	}
}

package servicebus_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

// The Go snippets of README.md are built and run by the test suite, whatever
// the README says when it is rewritten. Each ```go block becomes a main
// package of its own (overlaid at internal/readmesnippets/sN, a directory
// that exists only during `go build -overlay`), with //line directives, so a
// compile error names the README's own line:
//
//   - a block with a package clause is built as it is;
//   - a block of declarations gets the imports it uses (and an empty main if
//     it has none);
//   - a block of statements becomes the body of a function that returns an
//     error (the snippet may `return err`); the names it uses but does not
//     declare must be readmeVars (ctx, cfg, sender, agent), which are passed in
//     with live values, and the packages it names must be in readmeImports.
//
// Then each program runs against the test broker (SERVICEBUS_* set to it,
// node name of its own, a config file for every "*.yaml" the snippet names),
// and must not panic or hang: one that is still running once its node's
// queue has a consumer (an agent) or after a while is sent SIGINT, and must
// then exit. log.Fatal (exit 1) is a clear refusal and allowed.

// buildSnippets writes the programs to dir, builds them with an overlay that
// places them in the module, and returns the path of each binary.
func buildSnippets(t *testing.T, progs []generated) []string {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	overlay := map[string]map[string]string{"Replace": {}}
	var pkgs []string
	for i, g := range progs {
		src := filepath.Join(dir, fmt.Sprintf("s%d.go", i))
		if err := os.WriteFile(src, []byte(g.src), 0o600); err != nil {
			t.Fatal(err)
		}
		overlay["Replace"][filepath.Join(root, g.dir, "main.go")] = src
		pkgs = append(pkgs, "./"+g.dir)
	}
	data, _ := json.Marshal(overlay)
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"build", "-overlay", overlayFile, "-o", bin + "/"}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		for i, g := range progs {
			t.Logf("program %d (%s):\n%s", i, g.dir, g.src)
		}
		t.Fatalf("README snippets do not build:\n%s", out)
	}
	var bins []string
	for _, g := range progs {
		bins = append(bins, filepath.Join(bin, filepath.Base(g.dir)))
	}
	return bins
}

func TestReadmeGoSnippetsBuildAndRun(t *testing.T) {
	const file = "README.md"
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blocks := markdownBlocks(string(text), "go")
	if len(blocks) == 0 {
		t.Fatalf("%s has no go block: is the harness still reading the right fences?", file)
	}
	var progs []generated
	for _, s := range blocks {
		g, err := generate(file, s)
		if err != nil {
			t.Fatal(err)
		}
		progs = append(progs, g)
	}
	bins := buildSnippets(t, progs)

	brokerURL := brokertest.RequireBroker(t)
	node := testkit.UniqueName("readme")
	testkit.DeleteQueues(t, brokerURL, node)
	env := readmeEnv(t, brokerURL, node)
	for i, g := range progs {
		t.Run(fmt.Sprintf("%s:%d", file, blocks[i].line), func(t *testing.T) {
			runSnippet(t, bins[i], g, env, brokerURL, node)
		})
	}
}

// readmeEnv is the environment of a snippet: the test broker, a secret, a
// node of its own, and nothing else of SERVICEBUS_*.
func readmeEnv(t *testing.T, brokerURL, node string) []string {
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	vhost := "/"
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		vhost, _ = url.PathUnescape(p)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SERVICEBUS_") {
			env = append(env, kv)
		}
	}
	return append(env, "SERVICEBUS_HOSTS="+u.Host, "SERVICEBUS_USER="+u.User.Username(),
		"SERVICEBUS_PASSWORD="+pass, "SERVICEBUS_VHOST="+vhost, "SERVICEBUS_NODE_NAME="+node,
		"SERVICEBUS_SECRET_TOKEN=readme secret", "SERVICEBUS_DRAIN_TIMEOUT=5")
}

// runSnippet runs one program and fails on a panic, a signal death or a hang.
func runSnippet(t *testing.T, bin string, g generated, env []string, brokerURL, node string) {
	dir := t.TempDir()
	for _, y := range g.yamls {
		if err := os.WriteFile(filepath.Join(dir, y), []byte("# the SERVICEBUS_* environment configures this test\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// A program that serves (its node's queue has a consumer) or runs long
	// is stopped as a user stops it: SIGINT.
	var err error
	interrupted := false
	deadline := time.Now().Add(20 * time.Second)
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(50 * time.Millisecond):
		}
		if !interrupted && (hasConsumer(brokerURL, node) || time.Now().After(deadline)) {
			_ = cmd.Process.Signal(syscall.SIGINT)
			interrupted = true
			deadline = time.Now().Add(15 * time.Second)
		} else if interrupted && time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("still running 15s after SIGINT; output:\n%s", out.String())
		}
	}
	code := cmd.ProcessState.ExitCode()
	t.Logf("exit %d, interrupted %v; output:\n%s", code, interrupted, out.String())
	if o := out.String(); strings.Contains(o, "panic:") || strings.Contains(o, "fatal error:") || strings.Contains(o, "goroutine ") {
		t.Fatalf("the snippet panicked: %v", err)
	}
	if code != 0 && code != 1 {
		t.Fatalf("exit %d (%v): want 0, or 1 from log.Fatal", code, err)
	}
}

// hasConsumer reports whether queue has a consumer.
func hasConsumer(brokerURL, queue string) bool {
	c, _, err := testkit.QueueState(brokerURL, queue)
	return err == nil && c > 0
}

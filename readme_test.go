package servicebus_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
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

// readmeImports are the packages a snippet may name without importing them.
var readmeImports = map[string]string{
	"servicebus": "github.com/go-servicebus/servicebus",
	"router":     "github.com/go-servicebus/servicebus/pkg/router",
	"rpc":        "github.com/go-servicebus/servicebus/pkg/rpc",
	"codec":      "github.com/go-servicebus/servicebus/pkg/codec",
	"failover":   "github.com/go-servicebus/servicebus/pkg/failover",
	"udplog":     "github.com/go-servicebus/servicebus/pkg/udplog",
	"watermill":  "github.com/ThreeDotsLabs/watermill",
	"message":    "github.com/ThreeDotsLabs/watermill/message",
	"middleware": "github.com/ThreeDotsLabs/watermill/message/router/middleware",
	"logrus":     "github.com/sirupsen/logrus",
	"amqp":       "github.com/rabbitmq/amqp091-go",
	"context":    "context",
	"errors":     "errors",
	"fmt":        "fmt",
	"json":       "encoding/json",
	"log":        "log",
	"os":         "os",
	"signal":     "os/signal",
	"slog":       "log/slog",
	"strings":    "strings",
	"sync":       "sync",
	"syscall":    "syscall",
	"time":       "time",
}

// readmeVars are the variables a statement snippet may use without declaring
// them, with the value the harness passes in (an expression of the generated
// program, whose helpers are in readmeHelpers).
var readmeVars = []struct{ name, typ, value string }{
	{"ctx", "context.Context", "readmeCtx()"},
	{"cfg", "servicebus.Config", "readmeConfig()"},
	{"sender", "*servicebus.Sender", "readmeSender()"},
	{"agent", "*servicebus.Agent", "readmeAgent()"},
}

// readmeHelpers build the values of readmeVars from LoadConfig("") (the
// SERVICEBUS_* environment the test sets). A call gets a short deadline: the
// point is what a snippet does when it fails, not to wait 30 s for it.
const readmeHelpers = `
func readmeCtx() context.Context {
	ctx, _ := context.WithTimeout(context.Background(), 2*time.Second) // released at exit
	return ctx
}

func readmeConfig() servicebus.Config {
	cfg, err := servicebus.LoadConfig("")
	if err != nil {
		fmt.Fprintln(os.Stderr, "readme harness:", err)
		os.Exit(3)
	}
	return cfg
}

func readmeSender() *servicebus.Sender {
	s, err := servicebus.NewSender(readmeConfig(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "readme harness:", err)
		os.Exit(3)
	}
	return s
}

func readmeAgent() *servicebus.Agent {
	a, err := servicebus.NewAgent(readmeConfig(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "readme harness:", err)
		os.Exit(3)
	}
	return a
}
`

// readmeHarnessImports are what readmeHelpers and the generated main use.
var readmeHarnessImports = []string{"context", "fmt", "os", "time", "servicebus"}

// snippet is one ```go block of a Markdown file.
type snippet struct {
	line int    // line of the block's first code line
	code string // the block's text
}

// markdownBlocks returns the fenced blocks of the given language.
func markdownBlocks(text, lang string) []snippet {
	var out []snippet
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```"+lang {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		out = append(out, snippet{line: start + 1, code: strings.Join(lines[start:min(i, len(lines))], "\n")})
	}
	return out
}

// generated is the program of one snippet.
type generated struct {
	dir   string // package directory, relative to the module root
	src   string
	yamls []string // config files the snippet names, created before it runs
}

// generate turns a snippet of file (a Markdown file's name) into a program.
func generate(file string, s snippet) (generated, error) {
	g := generated{dir: fmt.Sprintf("internal/readmesnippets/s%d", s.line)}
	for _, m := range regexp.MustCompile(`"([^"/\\]+\.ya?ml)"`).FindAllStringSubmatch(s.code, -1) {
		g.yamls = append(g.yamls, m[1])
	}
	at := func(line int) string { return fmt.Sprintf("//line %s:%d\n", file, line) }
	fset := token.NewFileSet()

	// A whole file.
	if f, err := parser.ParseFile(fset, "", s.code, parser.PackageClauseOnly); err == nil && f.Name != nil {
		g.src = at(s.line) + s.code + "\n"
		return g, nil
	}
	// Declarations.
	if f, err := parser.ParseFile(fset, "", "package main\n"+s.code, 0); err == nil {
		imports, _, err := freeNames(f, false)
		if err != nil {
			return g, fmt.Errorf("%s:%d: %w", file, s.line, err)
		}
		var b strings.Builder
		b.WriteString("package main\n\n" + importBlock(imports) + at(s.line) + s.code + "\n")
		if f.Scope.Lookup("main") == nil {
			b.WriteString("\nfunc main() {}\n")
		}
		g.src = b.String()
		return g, nil
	}
	// Statements.
	wrapped := "package main\nfunc _() {\n" + s.code + "\n}\n"
	f, err := parser.ParseFile(fset, "", wrapped, 0)
	if err != nil {
		return g, fmt.Errorf("%s:%d: a go block must be a file, declarations or statements: %v", file, s.line, err)
	}
	imports, vars, err := freeNames(f, true)
	if err != nil {
		return g, fmt.Errorf("%s:%d: %w", file, s.line, err)
	}
	imports = append(imports, readmeHarnessImports...)
	var params, args []string
	for _, v := range readmeVars {
		if slices.Contains(vars, v.name) {
			params = append(params, v.name+" "+v.typ)
			args = append(args, v.value)
		}
	}
	var b strings.Builder
	b.WriteString("package main\n\n" + importBlock(imports))
	b.WriteString(readmeHelpers)
	fmt.Fprintf(&b, "\nfunc main() {\n\tif err := snippet(%s); err != nil {\n\t\tfmt.Println(\"the snippet returned:\", err)\n\t}\n}\n", strings.Join(args, ", "))
	fmt.Fprintf(&b, "\nfunc snippet(%s) error {\n", strings.Join(params, ", "))
	b.WriteString(at(s.line) + s.code + "\n")
	// A variable the snippet declares for show (rtt, err := ...) is used.
	for _, name := range declaredNames(f.Decls[0].(*ast.FuncDecl).Body) {
		fmt.Fprintf(&b, "\t_ = %s\n", name)
	}
	b.WriteString("\treturn nil\n}\n")
	g.src = b.String()
	return g, nil
}

// freeNames sorts the names a parsed snippet uses but does not declare into
// packages (readmeImports) and, where allowed, readmeVars; anything else is
// an error that says what to do.
func freeNames(f *ast.File, varsAllowed bool) (imports, vars []string, err error) {
	seen := map[string]bool{}
	for _, id := range f.Unresolved {
		name := id.Name
		if seen[name] || types.Universe.Lookup(name) != nil {
			continue
		}
		seen[name] = true
		if _, ok := readmeImports[name]; ok {
			imports = append(imports, name)
			continue
		}
		known := slices.ContainsFunc(readmeVars, func(v struct{ name, typ, value string }) bool { return v.name == name })
		if varsAllowed && known {
			vars = append(vars, name)
			continue
		}
		return nil, nil, fmt.Errorf("the snippet uses %q without declaring it: declare it in the snippet, "+
			"or add it to readmeImports or readmeVars in readme_test.go", name)
	}
	return imports, vars, nil
}

// declaredNames are the variables declared at the top level of body.
func declaredNames(body *ast.BlockStmt) []string {
	var out []string
	add := func(id *ast.Ident) {
		if id.Name != "_" && !slices.Contains(out, id.Name) {
			out = append(out, id.Name)
		}
	}
	for _, st := range body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok {
						add(id)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, spec := range gd.Specs {
					for _, id := range spec.(*ast.ValueSpec).Names {
						add(id)
					}
				}
			}
		}
	}
	return out
}

func importBlock(names []string) string {
	sort.Strings(names)
	names = slices.Compact(names)
	var b strings.Builder
	b.WriteString("import (\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\t%s %q\n", n, readmeImports[n])
	}
	b.WriteString(")\n\n")
	return b.String()
}

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
	node := fmt.Sprintf("readme-%d", time.Now().UnixNano())
	t.Cleanup(func() { deleteQueue(brokerURL, node) })
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
		if !interrupted && (consumers(brokerURL, node) > 0 || time.Now().After(deadline)) {
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
	if strings.Contains(out.String(), "panic:") || strings.Contains(out.String(), "goroutine ") {
		t.Fatalf("the snippet panicked: %v", err)
	}
	if code != 0 && code != 1 {
		t.Fatalf("exit %d (%v): want 0, or 1 from log.Fatal", code, err)
	}
}

// consumers is the consumer count of queue, 0 when it cannot be read.
func consumers(brokerURL, queue string) int {
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		return 0
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return 0
	}
	return q.Consumers
}

func deleteQueue(brokerURL, queue string) {
	conn, err := amqp.Dial(brokerURL)
	if err != nil {
		return
	}
	defer conn.Close()
	if ch, err := conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(queue, false, false, false)
	}
}

// Every yaml block of the README is a config that loads.
func TestReadmeYAMLBlocksAreConfigs(t *testing.T) {
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := markdownBlocks(string(text), "yaml")
	for _, b := range blocks {
		cfg := servicebus.DefaultConfig()
		if err := cfg.UnmarshalYAMLBytes([]byte(b.code)); err != nil {
			t.Errorf("README.md:%d: %v", b.line, err)
		}
	}
}

package servicebus_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// How a README snippet becomes a program: see readme_test.go.

// readmeImports are the packages a snippet may name without importing them.
var readmeImports = map[string]string{
	"servicebus":     "github.com/go-servicebus/servicebus",
	"router":         "github.com/go-servicebus/servicebus/pkg/router",
	"rpc":            "github.com/go-servicebus/servicebus/pkg/rpc",
	"codec":          "github.com/go-servicebus/servicebus/pkg/codec",
	"failover":       "github.com/go-servicebus/servicebus/pkg/failover",
	"broker":         "github.com/go-servicebus/servicebus/pkg/broker",
	"topology":       "github.com/go-servicebus/servicebus/pkg/topology",
	"token":          "github.com/go-servicebus/servicebus/pkg/token",
	"udplog":         "github.com/go-servicebus/servicebus/pkg/udplog",
	"watermill":      "github.com/ThreeDotsLabs/watermill",
	"message":        "github.com/ThreeDotsLabs/watermill/message",
	"middleware":     "github.com/ThreeDotsLabs/watermill/message/router/middleware",
	"metrics":        "github.com/ThreeDotsLabs/watermill/components/metrics",
	"gochannel":      "github.com/ThreeDotsLabs/watermill/pubsub/gochannel",
	"prometheus":     "github.com/prometheus/client_golang/prometheus",
	"servicebustest": "github.com/go-servicebus/servicebus/servicebustest",
	"testing":        "testing",
	"logrus":         "github.com/sirupsen/logrus",
	"amqp":           "github.com/rabbitmq/amqp091-go",
	"context":        "context",
	"errors":         "errors",
	"fmt":            "fmt",
	"json":           "encoding/json",
	"log":            "log",
	"os":             "os",
	"signal":         "os/signal",
	"slog":           "log/slog",
	"strings":        "strings",
	"sync":           "sync",
	"syscall":        "syscall",
	"time":           "time",
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

package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Vectors are the messages and tokens py-servicebus 2.x itself produced
// (pkg/codec/testdata/py-servicebus-2.x-vectors.json, a copy of the design's
// wire vectors): golden data, never written by our code.
type Vectors struct {
	Tokens []struct {
		Secret    string `json:"secret"`
		LocalDate string `json:"local_date"` // YYYY-MM-DD
		Token     string `json:"token"`      // of that date
		Prev      string `json:"prev"`       // of the day before
		Next      string `json:"next"`       // of the day after
	} `json:"tokens"`
	CallMessages []struct {
		Category       string          `json:"category"`
		Service        string          `json:"service"`
		Params         json.RawMessage `json:"params"`
		XML            string          `json:"xml"`
		ParsedByPython struct {
			ID       string          `json:"id"`
			Category string          `json:"category"`
			Service  string          `json:"service"`
			Token    string          `json:"token"`
			Params   json.RawMessage `json:"params"`
			Version  string          `json:"version"`
		} `json:"parsed_by_python"`
	} `json:"call_messages"`
	ResponseMessages []struct {
		PythonValueRepr     string   `json:"python_value_repr"`
		XML                 string   `json:"xml"`
		PythonSenderReturns []string `json:"python_sender_returns"`
	} `json:"response_messages"`
	PythonParserRejects []struct {
		XML    string `json:"xml"`
		Parsed bool   `json:"parsed"`
	} `json:"python_parser_rejects"`
}

var (
	vectorsOnce sync.Once
	vectors     Vectors
	vectorsErr  error
)

// VectorsFile is the path of the vectors file in this repository.
func VectorsFile() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "pkg", "codec", "testdata", "py-servicebus-2.x-vectors.json")
}

// LoadVectors reads the vectors once per test binary.
func LoadVectors(t testing.TB) Vectors {
	t.Helper()
	vectorsOnce.Do(func() {
		var b []byte
		if b, vectorsErr = os.ReadFile(VectorsFile()); vectorsErr == nil {
			vectorsErr = json.Unmarshal(b, &vectors)
		}
	})
	if vectorsErr != nil {
		t.Fatalf("testkit: py-servicebus vectors: %v", vectorsErr)
	}
	return vectors
}

// PyCall is a call envelope laid out byte for byte as py-servicebus 2.x
// writes it (note <catgory>).
func PyCall(id, token, category, service, params string) []byte {
	return []byte("<?xml version=\"1.0\"?>\n<event version=\"1\">\n    <id>" + id + "</id>\n    <token>" + token +
		"</token>\n    <catgory>" + category + "</catgory>\n    <service>" + service +
		"</service>\n    <params><![CDATA[" + params + "]]></params>\n</event>\n")
}

// WithToken is a py-servicebus call envelope with its token replaced.
func WithToken(xml, token string) string {
	start := strings.Index(xml, "<token>") + len("<token>")
	end := strings.Index(xml, "</token>")
	return xml[:start] + token + xml[end:]
}

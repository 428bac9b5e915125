package testkit

import (
	"strings"
	"testing"
)

func TestVectorsLoadAndPyCallMatchesTheirLayout(t *testing.T) {
	v := LoadVectors(t)
	if len(v.Tokens) == 0 || len(v.CallMessages) == 0 || len(v.ResponseMessages) == 0 {
		t.Fatalf("vectors incomplete: %d tokens, %d calls, %d responses", len(v.Tokens), len(v.CallMessages), len(v.ResponseMessages))
	}
	first := v.CallMessages[0]
	p := first.ParsedByPython
	params := first.XML[strings.Index(first.XML, "<![CDATA[")+len("<![CDATA[") : strings.Index(first.XML, "]]>")]
	got := string(PyCall(p.ID, p.Token, first.Category, first.Service, params))
	if got != first.XML {
		t.Fatalf("PyCall lays out\n%q\npy-servicebus wrote\n%q", got, first.XML)
	}
	if WithToken(first.XML, "T") == first.XML || !strings.Contains(WithToken(first.XML, "T"), "<token>T</token>") {
		t.Fatal("WithToken did not replace the token")
	}
}

func TestUniqueNamesDiffer(t *testing.T) {
	if a, b := UniqueName("x"), UniqueName("x"); a == b || !strings.HasPrefix(a, "x-") {
		t.Fatalf("UniqueName: %q, %q", a, b)
	}
}

package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const callXML = "<?xml version=\"1.0\"?>\n<event version=\"1\">\n    <id>1</id>\n    <token>tok</token>\n    <catgory>math</catgory>\n    <service>add</service>\n    <params><![CDATA[[1, 2]]]></params>\n</event>\n"

func TestRoundTripKeepsAwkwardText(t *testing.T) {
	cases := []Event{
		{Version: "1", ID: "a<b>&\"'c", Token: "t&t", Category: "cat]]>x", Service: "s\r\nx\ry\tz", Params: json.RawMessage(`{"s":"]]>","t":"a]]]]>>b"}`)},
		{Version: "2 & <3>\t\"x\"\n", ID: "ünïcødé ✓", Token: "", Category: "c", Service: "s", Params: json.RawMessage("[\"]]>\"\r\n,\r1]")},
		{Version: "1", ID: "", Category: "", Service: "", Params: json.RawMessage(`"]]>]]>]]]]>>"`)},
		{Version: "1", ID: "id", Category: "c", Service: "s", Params: json.RawMessage("[1,\r\n2]")},
	}
	for i, ev := range cases {
		for _, strict := range []bool{true, false} {
			got, err := DecodeEvent(EncodeEvent(&ev), Options{Strict: strict})
			if err != nil {
				t.Fatalf("case %d: %v\n%s", i, err, EncodeEvent(&ev))
			}
			if got.Version != ev.Version || got.ID != ev.ID || got.Token != ev.Token || got.Category != ev.Category ||
				got.Service != ev.Service || !bytes.Equal(got.Params, ev.Params) {
				t.Errorf("case %d: got %+v (%q), want %+v (%q)\n%s", i, got, got.Params, ev, ev.Params, EncodeEvent(&ev))
			}
		}
	}
}

func TestResponseRoundTripSplitsCDATAEnd(t *testing.T) {
	for _, msg := range []string{"", "]]>", "a]]>b]]>c", "]]]]>>", "x\r\ny\rz", "{'a': 1}", "]", "]]", "a]]"} {
		enc := EncodeResponse(&Response{ID: "7", Message: msg})
		if strings.Count(string(enc), "]]>") != strings.Count(string(enc), "<![CDATA[") {
			t.Errorf("%q: CDATA sections unbalanced in %q", msg, enc)
		}
		got, err := DecodeResponse(enc, Options{})
		if err != nil || got.ID != "7" || got.Message != msg {
			t.Errorf("%q: got %+v, %v from %q", msg, got, err, enc)
		}
	}
}

func TestEncodeDefaultsVersionAndNullParams(t *testing.T) {
	enc := EncodeEvent(&Event{ID: "1", Category: "c", Service: "s"})
	if !bytes.Contains(enc, []byte(`<event version="1">`)) || !bytes.Contains(enc, []byte("<![CDATA[null]]>")) {
		t.Errorf("got %s", enc)
	}
}

func TestEncodeReplacesWhatXMLCannotCarry(t *testing.T) {
	ev := Event{ID: "a\x00b\xffc", Category: "\x1b", Service: "\uFFFE", Params: json.RawMessage("\"\x01\xfe\"")}
	got, err := DecodeEvent(EncodeEvent(&ev), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "a\uFFFDb\uFFFDc" || got.Category != "\uFFFD" || got.Service != "\uFFFD" || string(got.Params) != "\"\uFFFD\uFFFD\"" {
		t.Errorf("got %+v %q", got, got.Params)
	}
}

func TestDecodeAcceptsOtherWellFormedWriters(t *testing.T) {
	cases := map[string]string{
		"bom and encoding":    "\xEF\xBB\xBF<?xml  version = '1.0' encoding='UTF-8'?><event version='1'><id>1</id><token>tok</token><catgory>math</catgory><service>add</service><params>[1, 2]</params></event>",
		"comments and pi":     "<!-- c --><?pi x?><event  version = \"1\" other=\"x\" ünï:c-.d_1=\"\" ><!-- c --><id>1<!-- c --></id><token>t<?pi?>ok</token><catgory>math</catgory><x><y/><z a='1'>text<![CDATA[<]]></z></x><service>add</service><params>\n  <![CDATA[[1, 2]]]>\n</params></event><!-- after -->\n",
		"entities":            "<event version=\"1\"><id>&#49;</id><token>&#x74;&#x6F;k</token><catgory>m&#97;th</catgory><service>a&#x64;d</service><params>[1, &#50;]</params></event>",
		"crlf":                "<?xml version=\"1.0\"?>\r\n<event version=\"1\">\r\n<id>1</id><token>tok</token><catgory>math</catgory><service>add</service><params><![CDATA[[1,\r\n2]]]></params></event>\r\n",
		"split cdata":         "<event version=\"1\"><id>1</id><token>tok</token><catgory>math</catgory><service>add</service><params><![CDATA[[1]]><![CDATA[, 2]]]></params></event>",
		"self-closing others": "<event version=\"1\"><extra/><id>1</id><token>tok</token><catgory>math</catgory><service>add</service><params>[1,2]</params></event>",
	}
	for name, body := range cases {
		ev, err := DecodeEvent([]byte(body), Options{Strict: true})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ev.ID != "1" || ev.Token != "tok" || ev.Category != "math" || ev.Service != "add" || ev.Version != "1" {
			t.Errorf("%s: got %+v", name, ev)
		}
		if !jsonEqual(t, ev.Params, []byte("[1,2]")) {
			t.Errorf("%s: params %q", name, ev.Params)
		}
	}
}

// TestDecodeNormalizesLineEndsExactly holds the decoder to XML's line-end
// handling, byte for byte (the JSON comparisons elsewhere cannot see a
// line end): "\r\n" and a lone "\r" become "\n" in text and in CDATA,
// also first and last; in an attribute value every line end, tab and
// newline becomes one space.
func TestDecodeNormalizesLineEndsExactly(t *testing.T) {
	body := "<event version=\"a\r\nb\rc\td\ne\r\"><id>\r\nx\r\ny\rz\r</id><token>t</token><catgory>c</catgory><service>s</service>" +
		"<params><![CDATA[\r[1,\r\n2,\r3]\r]]></params></event>"
	ev, err := DecodeEvent([]byte(body), Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Version != "a b c d e " || ev.ID != "\nx\ny\nz\n" || string(ev.Params) != "[1,\n2,\n3]" {
		t.Errorf("version %q, id %q, params %q; want \"a b c d e \", \"\\nx\\ny\\nz\\n\", \"[1,\\n2,\\n3]\"", ev.Version, ev.ID, ev.Params)
	}
	for cdata, want := range map[string]string{
		"\r\nA\rB\r\n\r": "\nA\nB\n\n",
		"\r":             "\n",
		"A\r\r\nB":       "A\n\nB",
		"\n\r\n":         "\n\n",
	} {
		resp := "<response><id>7</id><message><![CDATA[" + cdata + "]]></message></response>"
		if r, err := DecodeResponse([]byte(resp), Options{}); err != nil || r.Message != want {
			t.Errorf("message CDATA %q: got %q, %v; want %q", cdata, r.Message, err, want)
		}
	}
}

// TestEveryTruncationIsAnError cuts a call with line ends of every kind in
// text, attribute values and CDATA at every byte: each cut is malformed
// (the document is unfinished), never a panic or a success.
func TestEveryTruncationIsAnError(t *testing.T) {
	body := "<?xml version=\"1.0\"?>\r\n<event version=\"1\r\"><id>1\r</id><token>t&amp;\r</token><catgory>c</catgory>" +
		"<service>s</service><params><![CDATA[[1,\r\n2]\r]]></params></event>"
	if _, err := DecodeEvent([]byte(body), Options{Strict: true}); err != nil {
		t.Fatalf("the whole call: %v", err)
	}
	for n := range len(body) {
		for _, strict := range []bool{true, false} {
			if _, err := DecodeEvent([]byte(body[:n]), Options{Strict: strict}); !errors.Is(err, ErrMalformed) {
				t.Errorf("cut at %d (strict %v, %q): %v, want ErrMalformed", n, strict, body[:n], err)
			}
		}
	}
}

func TestDecodeEntitiesInText(t *testing.T) {
	body := "<event version=\"&quot;1&apos;\"><id>&lt;&gt;&amp;&quot;&apos;&#x1F600;</id><token/><catgory>c</catgory><service>s</service><params>null</params></event>"
	ev, err := DecodeEvent([]byte(body), Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "<>&\"'\U0001F600" || ev.Version != "\"1'" || ev.Token != "" {
		t.Errorf("got %+v", ev)
	}
}

func TestLenientDefaults(t *testing.T) {
	body := "<event version=\"1\"><id>1</id><category>c</category><service>s</service></event>"
	ev, err := DecodeEvent([]byte(body), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Category != "c" || ev.Token != "" || string(ev.Params) != "null" {
		t.Errorf("got %+v %q", ev, ev.Params)
	}
	if _, err := DecodeEvent([]byte(body), Options{Strict: true}); !errors.Is(err, ErrMalformed) {
		t.Errorf("strict: %v", err)
	}
	empty := "<event version=\"1\"><id>1</id><token/><catgory>c</catgory><service>s</service><params><![CDATA[]]></params></event>"
	if _, err := DecodeEvent([]byte(empty), Options{Strict: true}); !errors.Is(err, ErrMalformed) {
		t.Errorf("strict, empty params: %v", err)
	}
	if ev, err := DecodeEvent([]byte(empty), Options{}); err != nil || string(ev.Params) != "null" {
		t.Errorf("lenient, empty params: %q %v", ev.Params, err)
	}
}

func TestDecodeRejectsHostileInput(t *testing.T) {
	field := func(inner string) string {
		return "<event version=\"1\"><id>1</id><token>t</token><catgory>c</catgory><service>s</service>" + inner + "</event>"
	}
	withParams := func(p string) string {
		return "<event version=\"1\"><id>1</id><token>t</token><catgory>c</catgory><service>s</service><params>" + p + "</params></event>"
	}
	deepJSON := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepXML := strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000)
	cases := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"not xml", "not xml", ErrMalformed},
		{"only decl", "<?xml version=\"1.0\"?>", ErrMalformed},
		{"doctype", "<?xml version=\"1.0\"?><!DOCTYPE event><event version=\"1\"/>", ErrForbiddenMarkup},
		{"billion laughs", "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>" + withParams("&lol2;"), ErrForbiddenMarkup},
		{"external entity", "<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" + withParams("&x;"), ErrForbiddenMarkup},
		{"entity inside", field("<!ENTITY x \"y\">"), ErrForbiddenMarkup},
		{"undefined entity", withParams("&x;"), ErrMalformed},
		{"bare ampersand", withParams("[1 & 2]"), ErrMalformed},
		{"char ref to NUL", withParams("&#0;"), ErrMalformed},
		{"char ref too big", withParams("&#x110000;"), ErrMalformed},
		{"char ref surrogate", withParams("&#xD800;"), ErrMalformed},
		{"char ref sign", withParams("&#+49;"), ErrMalformed},
		{"char ref uppercase X", withParams("&#X31;"), ErrMalformed},
		{"invalid utf-8", withParams("\"\xff\""), ErrInvalidUTF8},
		{"overlong utf-8", withParams("\"\xc0\xaf\""), ErrInvalidUTF8},
		{"NUL byte", withParams("\"\x00\""), ErrMalformed},
		{"U+FFFE", withParams("\"\uFFFE\""), ErrMalformed},
		{"params not json", withParams("{"), ErrMalformed},
		{"deep json", withParams(deepJSON), ErrMalformed},
		{"deep xml", field(deepXML), ErrMalformed},
		{"element in field", withParams("<x/>"), ErrMalformed},
		{"duplicate id", field("<id>2</id><params>1</params>"), ErrMalformed},
		{"catgory and category", "<event version=\"1\"><id>1</id><catgory>a</catgory><category>b</category><service>s</service></event>", ErrMalformed},
		{"mismatched end", "<event version=\"1\"><id>1</ix></event>", ErrMalformed},
		{"mismatched skip", field("<a><b></a></b>"), ErrMalformed},
		{"wrong root end", "<event version=\"1\"><id>1</id></evnt>", ErrMalformed},
		{"truncated", callXML[:len(callXML)-10], ErrMalformed},
		{"unterminated cdata", withParams("<![CDATA[[1]"), ErrMalformed},
		{"unterminated comment", field("<!-- x"), ErrMalformed},
		{"unterminated pi", field("<?x"), ErrMalformed},
		{"cdata end in text", withParams("[1]]>"), ErrMalformed},
		{"two roots", callXML + "<event version=\"1\"/>", ErrMalformed},
		{"text after root", callXML + "x", ErrMalformed},
		{"duplicate attribute", "<event version=\"1\" version=\"2\"/>", ErrMalformed},
		{"unquoted attribute", "<event version=1/>", ErrMalformed},
		{"lt in attribute", "<event version=\"<\"/>", ErrMalformed},
		{"attrs without space", "<event version=\"1\"x=\"2\"/>", ErrMalformed},
		{"too many attributes", "<event version=\"1\"" + strings.Repeat(" a=\"\"", 1)[:0] + manyAttrs(40) + "/>", ErrMalformed},
		{"latin1 encoding", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" + callXML[len("<?xml version=\"1.0\"?>\n"):], ErrMalformed},
		{"xml decl without version", "<?xml?>" + withParams("1"), ErrMalformed},
		{"xml decl version 2", "<?xml version=\"2.0\"?>" + withParams("1"), ErrMalformed},
		{"xml decl encoding first", "<?xml encoding=\"utf-8\" version=\"1.0\"?>" + withParams("1"), ErrMalformed},
		{"late xml decl", "<!-- x --><?xml version=\"1.0\"?>" + withParams("1"), ErrMalformed},
		{"no version", "<event><id>1</id></event>", ErrMalformed},
		{"unknown bang", field("<!FOO>"), ErrMalformed},
		{"empty name", "< event version=\"1\"/>", ErrMalformed},
		{"digit name", field("<1a/>"), ErrMalformed},
		{"bad name char", field("<a✓b/>"), ErrMalformed},
		{"bad attribute name", "<event version=\"1\" -x=\"1\"/>", ErrMalformed},
		{"double dash comment", field("<!-- a -- b -->"), ErrMalformed},
		{"dash before comment end", field("<!-- a --->"), ErrMalformed},
		{"response root", "<response><id>1</id><message>x</message></response>", ErrMalformed},
	}
	for _, c := range cases {
		for _, strict := range []bool{true, false} {
			_, err := DecodeEvent([]byte(c.body), Options{Strict: strict})
			if !errors.Is(err, c.want) {
				t.Errorf("%s (strict %v): got %v, want %v", c.name, strict, err, c.want)
				continue
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Offset < 0 || de.Offset > len(c.body) || de.Reason == "" {
				t.Errorf("%s: error %#v does not say where and why", c.name, err)
			}
		}
	}
}

func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", i))
		b.WriteString("=\"\"")
	}
	return b.String()
}

func TestDecodeRejectsBodiesOverTheLimit(t *testing.T) {
	if _, err := DecodeEvent([]byte(callXML), Options{MaxBodySize: len(callXML)}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := DecodeEvent([]byte(callXML), Options{MaxBodySize: len(callXML) - 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("over a set limit: %v", err)
	}
	big := EncodeEvent(&Event{ID: "1", Category: "c", Service: "s", Params: json.RawMessage(`"` + strings.Repeat("x", DefaultMaxBodySize) + `"`)})
	if _, err := DecodeEvent(big, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the default limit: %v", err)
	}
	if _, err := DecodeResponse(big, Options{MaxBodySize: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("response over the limit: %v", err)
	}
	if _, err := DecodeEvent(big, Options{MaxBodySize: 2 * DefaultMaxBodySize}); err != nil {
		t.Errorf("under a raised limit: %v", err)
	}
}

func TestDecodeErrorsNameTheProblem(t *testing.T) {
	_, err := DecodeEvent([]byte("<event version=\"1\"><id>1</id><service>s</service></event>"), Options{Strict: true})
	if err == nil || !strings.Contains(err.Error(), "<catgory>") || !strings.Contains(err.Error(), "<token>") {
		t.Errorf("got %v", err)
	}
	_, err = DecodeEvent([]byte("<event version=\"1\"><id>\xff</id></event>"), Options{})
	if err == nil || !strings.Contains(err.Error(), "at byte 23") {
		t.Errorf("got %v", err)
	}
}

func TestDecodeResponseRejects(t *testing.T) {
	cases := map[string]string{
		"no message":    "<response><id>1</id></response>",
		"no id":         "<response><message>x</message></response>",
		"event root":    callXML,
		"duplicate":     "<response><id>1</id><id>2</id><message>x</message></response>",
		"element in":    "<response><id>1</id><message><b>x</b></message></response>",
		"self-closing":  "<response/>",
		"doctype":       "<!DOCTYPE response><response><id>1</id><message>x</message></response>",
		"invalid utf-8": "<response><id>1</id><message>\xff</message></response>",
	}
	for name, body := range cases {
		if _, err := DecodeResponse([]byte(body), Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r, err := DecodeResponse([]byte("<response><id/><message/></response>"), Options{})
	if err != nil || r.ID != "" || r.Message != "" {
		t.Errorf("empty fields: %+v %v", r, err)
	}
}

func TestDecodedParamsOwnTheirMemory(t *testing.T) {
	body := []byte(callXML)
	ev, err := DecodeEvent(body, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if string(ev.Params) != "[1, 2]" || ev.ID != "1" || ev.Category != "math" {
		t.Errorf("decoded event changed with its body: %+v", ev)
	}
}

func TestCallXMLConstantIsCanonical(t *testing.T) {
	ev := Event{ID: "1", Token: "tok", Category: "math", Service: "add", Params: json.RawMessage("[1, 2]")}
	if got := EncodeEvent(&ev); string(got) != callXML {
		t.Errorf("got %q", got)
	}
}

// TestDecodeLargeHostileBodies feeds bodies near the size limit built to make
// a scanner slow or deep; each must be decoded or refused, in linear time.
func TestDecodeLargeHostileBodies(t *testing.T) {
	pre := "<event version=\"1\"><id>1</id><token>t</token><catgory>c</catgory><service>s</service>"
	n := DefaultMaxBodySize - 200
	cases := []struct {
		name string
		body string
		ok   bool
	}{
		{"character references", pre + "<params>[" + strings.Repeat("&#49;", n/5-2) + "]</params></event>", true},
		{"comments", pre + strings.Repeat("<!---->", n/7) + "<params>1</params></event>", true},
		{"empty elements", pre + strings.Repeat("<a/>", n/4) + "<params>1</params></event>", true},
		{"nested elements", pre + strings.Repeat("<a><b></b></a>", n/14) + "<params>1</params></event>", true},
		{"processing instructions", pre + strings.Repeat("<?a?>", n/5) + "<params>1</params></event>", true},
		{"cdata sections", pre + "<params>" + strings.Repeat("<![CDATA[1]]>", n/13) + "</params></event>", true},
		{"non-ascii", pre + "<params>\"" + strings.Repeat("ü", n/2-2) + "\"</params></event>", true},
		{"unterminated comments", pre + strings.Repeat("<!--", n/4), false},
		{"ampersands", pre + "<params>" + strings.Repeat("&", n), false},
		{"open tags", pre + strings.Repeat("<a>", n/3), false},
		{"lt", pre + strings.Repeat("<", n), false},
	}
	for _, c := range cases {
		_, err := DecodeEvent([]byte(c.body), Options{})
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

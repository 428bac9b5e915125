package broker

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// startOk builds a connection.start-ok frame as amqp091-go writes it:
// client properties (strings, the capabilities table), mechanism, response,
// locale.
func startOk(props []byte) []byte {
	p := []byte{0, 10, 0, 11}
	p = binary.BigEndian.AppendUint32(p, uint32(len(props)))
	p = append(p, props...)
	p = append(p, 5)
	p = append(p, "PLAIN"...)
	p = binary.BigEndian.AppendUint32(p, 12)
	p = append(p, "\x00guest\x00guest"[:12]...)
	p = append(p, 5)
	p = append(p, "en_US"...)
	f := []byte{1, 0, 0}
	f = binary.BigEndian.AppendUint32(f, uint32(len(p)))
	f = append(f, p...)
	return append(f, 0xCE)
}

func field(key string, typ byte, value []byte) []byte {
	out := append([]byte{byte(len(key))}, key...)
	out = append(out, typ)
	return append(out, value...)
}

func longBytes(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// readTable reads a field table into key -> raw value, failing on anything
// malformed.
func readTable(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for off := 0; off < len(b); {
		k := int(b[off])
		key := string(b[off+1 : off+1+k])
		typ := b[off+1+k]
		n, ok := fieldLen(b[off+2+k:], typ)
		if !ok {
			t.Fatalf("unreadable field %q of type %q", key, typ)
		}
		out[key] = b[off+2+k : off+2+k+n]
		off += 2 + k + n
	}
	return out
}

func TestStartOkAsksTheBrokerToSayWhyItRefusesALogin(t *testing.T) {
	caps := field("connection.blocked", 't', []byte{1})
	caps = append(caps, field("basic.nack", 't', []byte{1})...)
	props := field("product", 'S', longBytes([]byte("servicebus")))
	props = append(props, field("capabilities", 'F', longBytes(caps))...)
	props = append(props, field("platform", 'S', longBytes([]byte("Go")))...)
	in := startOk(props)
	out, ok := withAuthFailureClose(in)
	if !ok {
		t.Fatal("start-ok not amended")
	}
	// The frame still reads: size, end, the same mechanism, response and
	// locale after the table, every property kept, the capability added.
	size := int(binary.BigEndian.Uint32(out[3:7]))
	if len(out) != 7+size+1 || out[len(out)-1] != 0xCE {
		t.Fatalf("frame size %d for %d bytes", size, len(out))
	}
	payload := out[7 : 7+size]
	tableLen := int(binary.BigEndian.Uint32(payload[4:8]))
	table := readTable(t, payload[8:8+tableLen])
	if !bytes.Equal(payload[8+tableLen:], in[7+4+4+len(props):len(in)-1]) {
		t.Fatal("mechanism, response or locale changed")
	}
	if string(table["product"][4:]) != "servicebus" || string(table["platform"][4:]) != "Go" {
		t.Fatalf("properties changed: %q", table)
	}
	got := readTable(t, table["capabilities"][4:])
	for _, c := range []string{"connection.blocked", "basic.nack", authFailureClose} {
		if !bytes.Equal(got[c], []byte{1}) {
			t.Errorf("capability %s = %v, want true", c, got[c])
		}
	}
	if _, again := withAuthFailureClose(out); again {
		t.Error("the capability was added twice")
	}
}

func TestFramesOtherThanStartOkPassUntouched(t *testing.T) {
	good := startOk(field("capabilities", 'F', longBytes(field("basic.nack", 't', []byte{1}))))
	for name, frame := range map[string][]byte{
		"empty":             nil,
		"protocol header":   []byte("AMQP\x00\x00\x09\x01"),
		"heartbeat":         {8, 0, 0, 0, 0, 0, 0, 0xCE},
		"another method":    append(append([]byte{}, good[:7]...), append([]byte{0, 10, 0, 31}, good[11:]...)...),
		"other channel":     append([]byte{1, 0, 1}, good[3:]...),
		"size too large":    append([]byte{1, 0, 0, 0, 0, 1, 0}, good[7:]...),
		"no frame end":      good[:len(good)-1],
		"no capabilities":   startOk(field("product", 'S', longBytes([]byte("x")))),
		"unknown type":      startOk(field("odd", '?', nil)),
		"table past end":    startOk(field("capabilities", 'F', []byte{0, 0, 0, 99})),
		"key past end":      startOk([]byte{200, 'a'}),
		"capabilities void": startOk(field("capabilities", 'V', nil)),
	} {
		if out, ok := withAuthFailureClose(frame); ok {
			t.Errorf("%s: amended to %x", name, out)
		}
	}
}

// Whatever comes its way, the amendment never panics, and what it amends
// still frames.
func FuzzWithAuthFailureClose(f *testing.F) {
	f.Add(startOk(field("capabilities", 'F', longBytes(field("basic.nack", 't', []byte{1})))))
	f.Add(startOk(append(field("a", 'l', make([]byte, 8)), field("capabilities", 'F', longBytes(nil))...)))
	f.Add([]byte("AMQP\x00\x00\x09\x01"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		out, ok := withAuthFailureClose(frame)
		if !ok {
			return
		}
		size := int(binary.BigEndian.Uint32(out[3:7]))
		if len(out) != len(frame)+2+len(authFailureClose)+1 || len(out) != 7+size+1 || out[len(out)-1] != 0xCE {
			t.Fatalf("amended frame of %d bytes (size %d) from %d", len(out), size, len(frame))
		}
	})
}

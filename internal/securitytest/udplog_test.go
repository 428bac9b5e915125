package securitytest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/pkg/udplog"
)

// pyDatagram frames a pickle as logging.handlers.DatagramHandler does.
func pyDatagram(pickle []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(pickle)))
	return append(b, pickle...)
}

// pickleStr is BINUNICODE s.
func pickleStr(s string) []byte {
	b := []byte{'X'}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// pickleRecord is a dict {levelname, msg, extra: <value built by extra>}.
func pickleRecord(extra []byte) []byte {
	p := []byte{0x80, 2, '}'}
	p = append(p, pickleStr("levelname")...)
	p = append(p, pickleStr("INFO")...)
	p = append(p, 's')
	p = append(p, pickleStr("msg")...)
	p = append(p, pickleStr("hostile")...)
	p = append(p, 's')
	p = append(p, pickleStr("extra")...)
	p = append(p, extra...)
	p = append(p, 's', '.')
	return p
}

// TestLogCollectorSurvivesHostileDatagrams: a running collector gets
// datagrams an attacker on the host can send to its UDP port; each is
// dropped and counted or written as exactly one escaped line, and the
// collector goes on writing honest records.
func TestLogCollectorSurvivesHostileDatagrams(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "servicebus.log")
	srv, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: file, FlushInterval: 10 * time.Millisecond}, newCaptureLog())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := net.Dial("udp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Memo bomb: a list of two references to the previous list, 60 times:
	// 2^60 leaves if anyone expands it.
	bomb := []byte{']', 'q', 0}
	for range 60 {
		bomb = append(bomb, '(', 'h', 0, 'h', 0, 'l', 'q', 0)
	}
	// A list that contains itself.
	cycle := []byte{']', 'q', 0, 'h', 0, 'a'}
	var deep []byte
	for range 20000 {
		deep = append(deep, '(')
	}
	deep = append(deep, ']')
	for range 20000 {
		deep = append(deep, 'l')
	}

	dropped := map[string][]byte{
		"too large":        append([]byte(`{"level":"INFO","msg":"`), bytes.Repeat([]byte("a"), 62<<10)...),
		"invalid UTF-8":    []byte("{\"level\":\"INFO\",\"msg\":\"\xff\xfe\"}"),
		"NUL outside JSON": []byte("{\"level\":\"INFO\",\"msg\":\"a\"}\x00"),
		"empty":            {},
		"not JSON":         []byte("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"),
		"deep JSON":        []byte(`{"level":"INFO","msg":"x","f":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + "}"),
		"pickle GLOBAL":    pyDatagram([]byte("cos\nsystem\n(S'touch " + filepath.Join(dir, "pwned") + "'\ntR.")),
		"pickle REDUCE":    pyDatagram(pickleRecord([]byte{'c', 'o', 's', '\n', 's', 'y', 's', 't', 'e', 'm', '\n', ')', 'R'})),
		"pickle memo bomb": pyDatagram(pickleRecord(bomb)),
		"pickle cycle":     pyDatagram(pickleRecord(cycle)),
		"pickle deep":      pyDatagram(pickleRecord(deep)),
		"pickle truncated": pyDatagram([]byte{0x80, 2, '}', 'X', 0xff, 0xff, 0xff, 0x7f}),
		"length lies":      append([]byte{0, 0, 0, 0xff}, pickleRecord(nil)...),
	}
	// Accepted, but must stay one line each with nothing raw in it.
	escaped := map[string][]byte{
		"newline injection": []byte(`{"level":"INFO","msg":"ok\n[2026-01-01 00:00:00,000 PID:1]ERROR:forged line"}`),
		"CR and ANSI":       []byte(`{"level":"INFO\r","msg":"\u001b[31mred\u001b[0m\rover"}`),
		"NUL in text":       []byte(`{"level":"INFO","msg":"a\u0000b","k\nx":"v\u0000"}`),
	}
	send := func(b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	good := 0
	honest := func() {
		t.Helper()
		good++
		send([]byte(`{"level":"INFO","msg":"honest ` + strings.Repeat("x", good) + `"}`))
	}
	for _, b := range dropped {
		send(b)
		honest()
	}
	for _, b := range escaped {
		send(b)
		honest()
	}
	want := uint64(len(dropped) + len(escaped) + good)
	waitUntil(t, 20*time.Second, "every datagram handled", func() bool {
		st := srv.Stats()
		return st.Written+st.Bad >= want
	})
	st := srv.Stats()
	if st.Bad != uint64(len(dropped)) || st.Written != uint64(len(escaped)+good) {
		t.Fatalf("stats %+v: want %d bad and %d written", st, len(dropped), len(escaped)+good)
	}
	if err := srv.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines, honestLines := 0, 0
	for sc.Scan() {
		l := sc.Text()
		lines++
		if !strings.HasPrefix(l, "[") || strings.ContainsAny(l, "\r\x00\x1b") || !isUTF8(l) {
			t.Errorf("line %d is not one clean record: %q", lines, l)
		}
		if strings.Contains(l, "]INFO:honest ") {
			honestLines++
		}
	}
	if lines != len(escaped)+good || honestLines != good {
		t.Fatalf("%d lines (%d honest); want %d (%d honest)", lines, honestLines, len(escaped)+good, good)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a pickle ran a command")
	}
}

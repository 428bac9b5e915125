package udplog

import (
	"strconv"
	"unicode/utf8"
)

// The work budget of one datagram. Anyone who can reach the collector's port
// chooses what it decodes, so no datagram may cost much more than its size:
// values that would be expensive to convert are capped before they are
// converted, and what a record renders to is capped too. A record cut this
// way is still written, with a marker, and counted in Stats.Capped.

// MaxLineSize bounds a written line (16 KiB, newline included). A longer
// record is cut and its line ends with a marker saying so: in the text
// format " …[udplog: cut, datagram of N bytes]", in the JSON format the
// field "udplog_cut": N (the datagram's size), with only the fields that fit
// whole.
const MaxLineSize = 16 << 10

const (
	// maxIntBytes bounds a pickled integer (LONG1/LONG4) that is converted
	// to decimal: 32 bytes is 77 digits. A longer one is never converted
	// (converting 60 KB of binary to decimal took 9 ms) and is rendered as
	// "<int of N bytes>".
	maxIntBytes = 32
	// maxIntDigits is the same bound for integers pickled as text (INT, LONG).
	maxIntDigits = 80
	// maxStrBytes bounds a pickled str or bytes value: longer ones are cut,
	// and end with "…", before they are turned into text. A line could not
	// hold more.
	maxStrBytes = MaxLineSize
	// maxFields bounds the fields kept from a JSON record; the others are
	// checked but not rendered.
	maxFields = 256
	// maxFloatText bounds a float pickled as text; Python writes at most 24
	// characters.
	maxFloatText = 64
	// pickleMaxValues bounds the values one pickle may push (each may cost an
	// allocation): a DatagramHandler record pushes about 60.
	pickleMaxValues = 20000
)

// capped stands for a value too large to convert; it is rendered as a
// short string that gives its kind and size.
type capped struct {
	kind string // "int"
	size int    // bytes in the pickle
}

func (c capped) String() string {
	return "<" + c.kind + " of " + strconv.Itoa(c.size) + " bytes>"
}

// cutUTF8 is p cut to at most n bytes, at the start of a rune when p is UTF-8.
func cutUTF8[T string | []byte](p T, n int) T {
	if len(p) <= n {
		return p
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(p[i]) {
		i--
	}
	if !utf8.RuneStart(p[i]) {
		i = n // not UTF-8 here: cut anywhere
	}
	return p[:i]
}

package codec

// What a field looks like on the far side of the wire. A scheme that signs
// an event (pkg/token's HMAC) must sign the fields as the receiver will
// decode them, or a signature made before EncodeEvent would not match after
// DecodeEvent.

// AppendDecoded appends s as DecodeEvent returns a field that EncodeEvent
// wrote from s: invalid UTF-8 and characters XML cannot carry become
// U+FFFD, everything else is kept.
func AppendDecoded[S string | []byte](dst []byte, s S) []byte {
	if clean(s) {
		return append(dst, s...)
	}
	return appendSanitized(dst, s)
}

// DecodedParams returns params as DecodeEvent returns them after EncodeEvent
// wrote them: surrounding white space trimmed, empty params as JSON null,
// unencodable characters as U+FFFD. It returns params itself (trimmed) when
// nothing changes, so large params are not copied.
func DecodedParams(params []byte) []byte {
	params = trimSpace(params)
	if len(params) == 0 {
		return nullParams
	}
	if clean(params) {
		return params
	}
	return appendSanitized(nil, params)
}

// clean reports whether s reads back unchanged through encode and decode
// without a closer look (ASCII text, tab, newline, carriage return).
func clean[S string | []byte](s S) bool {
	for i := 0; i < len(s); i++ {
		if !plainText[s[i]] && s[i] != '\r' {
			return false
		}
	}
	return true
}

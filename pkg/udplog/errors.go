package udplog

import "errors"

// ErrTooLarge means a datagram is longer than MaxRecordSize.
var ErrTooLarge = errors.New("udplog: datagram larger than 60 KiB")

// ErrInvalidUTF8 means a JSON datagram is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("udplog: datagram is not valid UTF-8")

// ErrNotJSON means a datagram is neither a JSON object nor a Python
// DatagramHandler record.
var ErrNotJSON = errors.New("udplog: datagram is not a JSON object")

// ErrMissingField means a JSON record lacks "level" or "msg".
var ErrMissingField = errors.New("udplog: record lacks level or msg")

// ErrBadPickle means a Python DatagramHandler datagram is malformed or uses
// a pickle opcode that could build anything but plain values (GLOBAL,
// REDUCE, BUILD, ...). Such a datagram is rejected, never executed.
var ErrBadPickle = errors.New("udplog: bad or unsafe pickle")

// ErrClosed is returned by methods of a closed Server or Client.
var ErrClosed = errors.New("udplog: closed")

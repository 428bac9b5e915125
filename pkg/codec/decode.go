package codec

import (
	"encoding/json"
)

// DefaultMaxBodySize is the largest body DecodeEvent and DecodeResponse accept
// when Options.MaxBodySize is 0.
const DefaultMaxBodySize = 1 << 20

// Options tune decoding. The zero value is the lenient default.
type Options struct {
	// MaxBodySize is the largest body accepted, in bytes; 0 means
	// DefaultMaxBodySize.
	MaxBodySize int
	// Strict accepts only what the py-servicebus 2.x parser accepts: the
	// category must be spelled <catgory> and every field must be present.
	// The lenient default also accepts <category>, and a missing token or
	// params (read as "" and null).
	Strict bool
}

func (o Options) maxBodySize() int {
	if o.MaxBodySize <= 0 {
		return DefaultMaxBodySize
	}
	return o.MaxBodySize
}

// Fields of an envelope, as bits, to find missing and duplicated ones.
const (
	fieldID = 1 << iota
	fieldToken
	fieldCategory
	fieldService
	fieldParams
	fieldMessage
)

// DecodeEvent parses a call envelope. It never panics; every error is a
// *DecodeError wrapping ErrMalformed, ErrTooLarge, ErrInvalidUTF8 or
// ErrForbiddenMarkup. The returned Params are JSON (checked) without
// surrounding white space, and own their memory.
func DecodeEvent(body []byte, opt Options) (Event, error) {
	var ev Event
	d := decoder{b: body}
	if err := d.root(opt, "event"); err != nil {
		return ev, err
	}
	if !d.hasVersion {
		return ev, d.errAt(ErrMalformed, d.tagStart, "<event> lacks the version attribute")
	}
	var buf [256]byte
	scratch := d.appendVersion(buf[:0]) // decoded text of every field but params
	var seen int
	var offs [5][2]int // version, id, token, category, service in scratch
	offs[0] = [2]int{0, len(scratch)}
	var params []byte
	if !d.selfClosing {
		for {
			name, end, err := d.nextChild()
			if err != nil {
				return ev, err
			}
			if end {
				if string(name) != "event" {
					return ev, d.errAt(ErrMalformed, d.tagStart, "the closing tag does not match <event>")
				}
				break
			}
			var bit, slot int
			switch string(name) {
			case "id":
				bit, slot = fieldID, 1
			case "token":
				bit, slot = fieldToken, 2
			case "catgory":
				bit, slot = fieldCategory, 3
			case "category":
				if opt.Strict {
					if err := d.skipElement(name); err != nil {
						return ev, err
					}
					continue
				}
				bit, slot = fieldCategory, 3
			case "service":
				bit, slot = fieldService, 4
			case "params":
				bit = fieldParams
			default:
				if err := d.skipElement(name); err != nil {
					return ev, err
				}
				continue
			}
			if seen&bit != 0 {
				return ev, d.errAt(ErrMalformed, d.tagStart, "<"+string(name)+"> appears twice")
			}
			seen |= bit
			if bit == fieldParams {
				if params, err = d.content(name, nil); err != nil {
					return ev, err
				}
				continue
			}
			start := len(scratch)
			if scratch, err = d.content(name, scratch); err != nil {
				return ev, err
			}
			offs[slot] = [2]int{start, len(scratch)}
		}
	}
	if err := d.end(); err != nil {
		return ev, err
	}
	required := fieldID | fieldCategory | fieldService
	if opt.Strict {
		required |= fieldToken | fieldParams
	}
	if missing := required &^ seen; missing != 0 {
		return ev, d.errAt(ErrMalformed, d.rootStart, "<event> lacks "+fieldNames(missing, opt.Strict))
	}
	params = trimSpace(params)
	switch {
	case len(params) == 0 && opt.Strict:
		return ev, d.errAt(ErrMalformed, d.rootStart, "<params> is empty, want JSON")
	case len(params) == 0:
		params = []byte("null")
	case !json.Valid(params):
		return ev, d.errAt(ErrMalformed, d.rootStart, "<params> is not JSON")
	}
	all := string(scratch) // one allocation for every text field
	ev.Version = all[offs[0][0]:offs[0][1]]
	ev.ID = all[offs[1][0]:offs[1][1]]
	ev.Token = all[offs[2][0]:offs[2][1]]
	ev.Category = all[offs[3][0]:offs[3][1]]
	ev.Service = all[offs[4][0]:offs[4][1]]
	ev.Params = params
	return ev, nil
}

func fieldNames(bits int, strict bool) string {
	var b []byte
	add := func(bit int, s string) {
		if bits&bit != 0 {
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = append(b, s...)
		}
	}
	add(fieldID, "<id>")
	add(fieldToken, "<token>")
	if strict {
		add(fieldCategory, "<catgory>")
	} else {
		add(fieldCategory, "<catgory> (or <category>)")
	}
	add(fieldService, "<service>")
	add(fieldParams, "<params>")
	add(fieldMessage, "<message>")
	return string(b)
}

// DecodeResponse parses a response envelope. Errors are as for DecodeEvent.
// The message is returned exactly as written, CDATA sections joined.
func DecodeResponse(body []byte, opt Options) (Response, error) {
	var r Response
	d := decoder{b: body}
	if err := d.root(opt, "response"); err != nil {
		return r, err
	}
	var buf [256]byte
	scratch := buf[:0]
	var seen int
	var id, msg [2]int
	if !d.selfClosing {
		for {
			name, end, err := d.nextChild()
			if err != nil {
				return r, err
			}
			if end {
				if string(name) != "response" {
					return r, d.errAt(ErrMalformed, d.tagStart, "the closing tag does not match <response>")
				}
				break
			}
			var bit int
			var dst *[2]int
			switch string(name) {
			case "id":
				bit, dst = fieldID, &id
			case "message":
				bit, dst = fieldMessage, &msg
			default:
				if err := d.skipElement(name); err != nil {
					return r, err
				}
				continue
			}
			if seen&bit != 0 {
				return r, d.errAt(ErrMalformed, d.tagStart, "<"+string(name)+"> appears twice")
			}
			seen |= bit
			start := len(scratch)
			if scratch, err = d.content(name, scratch); err != nil {
				return r, err
			}
			*dst = [2]int{start, len(scratch)}
		}
	}
	if err := d.end(); err != nil {
		return r, err
	}
	if missing := (fieldID | fieldMessage) &^ seen; missing != 0 {
		return r, d.errAt(ErrMalformed, d.rootStart, "<response> lacks "+fieldNames(missing, true))
	}
	all := string(scratch)
	r.ID = all[id[0]:id[1]]
	r.Message = all[msg[0]:msg[1]]
	return r, nil
}

// root reads the prolog and the start tag of the root element, which must
// be want; for an <event> it records where the version attribute's value
// is (startTag).
func (d *decoder) root(opt Options, want string) error {
	if err := d.begin(opt); err != nil {
		return err
	}
	name, err := d.startTag(want == "event")
	if err != nil {
		return err
	}
	if string(name) != want {
		return d.errAt(ErrMalformed, d.tagStart, "the root element is not <"+want+">")
	}
	return nil
}

package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// The vectors are computed by testdata/reply_signature.py with Python's hmac
// module, not by this package.
func TestReplySignatureMatchesTheIndependentVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/reply-signature-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Domain  string `json:"domain"`
		Vectors []struct {
			Secret        string `json:"secret"`
			CallID        string `json:"call_id"`
			CorrelationID string `json:"correlation_id"`
			Body          string `json:"body_base64"`
			ErrorCode     string `json:"error_code"`
			ErrorMessage  string `json:"error_message"`
			Signature     string `json:"signature"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if file.Domain != hmacReplyDomain || len(file.Vectors) < 4 {
		t.Fatalf("vectors of domain %q (%d), want %q", file.Domain, len(file.Vectors), hmacReplyDomain)
	}
	for i, v := range file.Vectors {
		body, err := base64.StdEncoding.DecodeString(v.Body)
		if err != nil {
			t.Fatal(err)
		}
		r := &Reply{CallID: v.CallID, CorrelationID: v.CorrelationID, Body: body, ErrorCode: v.ErrorCode, ErrorMessage: v.ErrorMessage}
		tokens := NewHMACTokens(v.Secret, HMACOptions{})
		if got := tokens.SignReply(r); got != v.Signature {
			t.Errorf("vector %d: signature %s, want %s", i, got, v.Signature)
		}
		if err := tokens.VerifyReply(r, v.Signature); err != nil {
			t.Errorf("vector %d: %v", i, err)
		}
	}
}

func TestReplySignatureBindsEveryField(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{})
	good := Reply{CallID: "a-1", CorrelationID: "a-1", Body: []byte("<response>3</response>"), ErrorCode: "service_error", ErrorMessage: "no"}
	sig := tokens.SignReply(&good)
	if err := tokens.VerifyReply(&good, sig); err != nil {
		t.Fatal(err)
	}
	changed := map[string]func(r *Reply){
		"call id":        func(r *Reply) { r.CallID = "a-2" },
		"correlation id": func(r *Reply) { r.CorrelationID = "a-2" },
		"body":           func(r *Reply) { r.Body = []byte("<response>666</response>") },
		"error code":     func(r *Reply) { r.ErrorCode = "" },
		"error message":  func(r *Reply) { r.ErrorMessage = "yes" },
		// Length prefixes: moving bytes from one field to the next changes the input.
		"field boundary": func(r *Reply) { r.CallID, r.CorrelationID = "a-1a", "-1" },
	}
	for name, change := range changed {
		r := good
		change(&r)
		if err := tokens.VerifyReply(&r, sig); !errors.Is(err, ErrBadReply) {
			t.Errorf("%s changed: %v, want ErrBadReply", name, err)
		}
	}
	for name, bad := range map[string]string{"absent": "", "short": sig[:10], "not hex": "zz" + sig[2:], "another secret's": NewHMACTokens(testSecret+"x", HMACOptions{}).SignReply(&good)} {
		if err := tokens.VerifyReply(&good, bad); !errors.Is(err, ErrBadReply) {
			t.Errorf("%s signature: %v, want ErrBadReply", name, err)
		}
	}
}

func TestCompatAcceptsUnsignedRepliesOnly(t *testing.T) {
	compat := NewHMACTokens(testSecret, HMACOptions{Compat: true})
	r := &Reply{CallID: "a", CorrelationID: "a", Body: []byte("x")}
	if err := compat.VerifyReply(r, ""); err != nil {
		t.Errorf("unsigned reply with Compat: %v", err)
	}
	if err := compat.VerifyReply(r, NewHMACTokens("other", HMACOptions{}).SignReply(r)); !errors.Is(err, ErrBadReply) {
		t.Errorf("badly signed reply with Compat: %v", err)
	}
}

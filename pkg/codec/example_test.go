package codec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

func ExampleEncodeEvent() {
	ev := codec.Event{ID: "1", Category: "math", Service: "add", Params: json.RawMessage("[1, 2]")}
	fmt.Print(string(codec.EncodeEvent(&ev)))
	// Output:
	// <?xml version="1.0"?>
	// <event version="1">
	//     <id>1</id>
	//     <token></token>
	//     <catgory>math</catgory>
	//     <service>add</service>
	//     <params><![CDATA[[1, 2]]]></params>
	// </event>
}

func ExampleDecodeEvent() {
	body := []byte(`<?xml version="1.0"?>
<event version="1">
    <id>1</id>
    <token>095faf41ba5bc9066667b8618551eafd2ce23aaa</token>
    <catgory>math</catgory>
    <service>add</service>
    <params><![CDATA[[1, 2]]]></params>
</event>
`)
	ev, err := codec.DecodeEvent(body, codec.Options{Strict: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	var params []int
	_ = json.Unmarshal(ev.Params, &params)
	fmt.Println(ev.Category, ev.Service, params)
	// Output: math add [1 2]
}

func ExampleDecodeEvent_hostile() {
	body := []byte(`<!DOCTYPE lolz [<!ENTITY lol "lol">]><event version="1"><id>&lol;</id></event>`)
	_, err := codec.DecodeEvent(body, codec.Options{})
	fmt.Println(errors.Is(err, codec.ErrForbiddenMarkup))
	fmt.Println(err)
	// Output:
	// true
	// codec: forbidden XML markup at byte 0: DOCTYPE and entity declarations are not accepted
}

func ExampleDecodeResponse() {
	body := codec.EncodeResponse(&codec.Response{ID: "7", Message: `{"sum": 3}`})
	r, err := codec.DecodeResponse(body, codec.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	reply := codec.Reply{ID: r.ID, Raw: r.Message}
	var v struct{ Sum int }
	fmt.Println(reply.IsJSON(), reply.Decode(&v), v.Sum)
	// Output: true <nil> 3
}

func ExampleAppendEvent() {
	// A sender reuses one buffer for its calls.
	buf := make([]byte, 0, 512)
	for i, params := range []string{"[1, 2]", "[3, 4]"} {
		ev := codec.Event{ID: fmt.Sprint(i), Category: "math", Service: "add", Params: json.RawMessage(params)}
		buf = codec.AppendEvent(buf[:0], &ev)
		fmt.Println(len(buf))
	}
	// Output:
	// 181
	// 181
}

func ExampleDailyToken() {
	day := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	fmt.Println(codec.DailyToken("secret token", day, time.UTC))
	// Output: 095faf41ba5bc9066667b8618551eafd2ce23aaa
}

func ExampleNewHMACTokens() {
	signer := codec.NewHMACTokens("secret token", codec.HMACOptions{})
	validator := codec.NewHMACTokens("secret token", codec.HMACOptions{})
	now := time.Now()

	ev := codec.Event{ID: "42", Category: "math", Service: "add", Params: json.RawMessage("[1,2]")}
	headers, _ := signer.Sign(&ev, now) // published as AMQP headers x-sb-ts, x-sb-sig

	fmt.Println(validator.Validate(context.Background(), &ev, headers, now))
	err := validator.Validate(context.Background(), &ev, headers, now) // the same message again
	fmt.Println(errors.Is(err, codec.ErrBadToken))
	fmt.Println(signer) // the secret never prints
	// Output:
	// <nil>
	// true
	// codec.HMACTokens{secret: [redacted], skew: 2m0s, replay window: 4m0s, replay cache: 100000, compat: false}
}

func ExampleTokenValidator() {
	// Any type with Validate plugs in, e.g. one that asks an auth service.
	var v codec.TokenValidator = allowCategory("math")
	fmt.Println(v.Validate(context.Background(), &codec.Event{Category: "admin"}, nil, time.Now()))
	// Output: codec: bad token: category "admin" is not allowed
}

type allowCategory string

func (a allowCategory) Validate(_ context.Context, ev *codec.Event, _ map[string]string, _ time.Time) error {
	if ev.Category != string(a) {
		return fmt.Errorf("codec: %w: category %q is not allowed", codec.ErrBadToken, ev.Category)
	}
	return nil
}

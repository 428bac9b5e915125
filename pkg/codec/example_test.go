package codec_test

import (
	"encoding/json"
	"errors"
	"fmt"

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

func ExampleDecodeResponse() {
	body := codec.EncodeResponse(&codec.Response{ID: "7", Message: `{"sum": 3}`})
	r, err := codec.DecodeResponse(body, codec.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.ID, r.Message)
	// Output: 7 {"sum": 3}
}

package rpc_test

import (
	"fmt"

	"github.com/go-servicebus/servicebus/pkg/rpc"
)

func ExampleReply_Decode() {
	// The reply of a call whose agent answered {"sum": 3}.
	reply := rpc.Reply{ID: "7", Raw: `{"sum": 3}`}
	var v struct{ Sum int }
	fmt.Println(reply.IsJSON(), reply.Decode(&v), v.Sum)
	// Output: true <nil> 3
}

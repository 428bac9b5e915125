package rpc

// KillPath drops the sender's connection to broker i as a network failure
// would; the path reconnects.
func KillPath(s *Sender, i int, reason error) { s.pub.Path(i).Kill(reason) }

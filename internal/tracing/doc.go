// Package tracing is what the sender (pkg/rpc) and the agent (pkg/router)
// share to trace calls with OpenTelemetry: the tracer and propagator of
// each (the global ones unless configured), carriers over AMQP headers
// that refuse oversized trace headers, and the messaging attributes of
// OpenTelemetry's semantic conventions. docs/tracing.md says what is traced.
//
// The hot path stays cheap when nothing records: spans start with a fixed
// name and get their real name and attributes only when IsRecording is true.
package tracing

// Package securitytest holds the end-to-end security tests of servicebus:
// verified and mutual TLS against a real RabbitMQ TLS listener, the token
// modes between a real agent and sender, and hostile input against a running
// agent. It has no code of its own outside its tests.
package securitytest

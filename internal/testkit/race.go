//go:build race

package testkit

// Race reports whether the tests run under the race detector, which makes
// CPU-bound work several times slower: a timing bound that is a promise of
// the product is asserted as published in a build without -race (make test
// runs those tests both ways) and with a stated factor under it.
const Race = true

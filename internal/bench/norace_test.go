//go:build !race

package bench

// raceSlack: without the race detector the budgets hold exactly.
const raceSlack = 0

//go:build race

package bench

// raceSlack is added to every allocation budget under the race detector,
// whose sync.Pool drops a quarter of what is put back at random: the
// pooled buffers of encoding/json are then allocated again now and then.
const raceSlack = 2

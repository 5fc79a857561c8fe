//go:build race

package codec_test

// raceEnabled: sync.Pool drops Puts at random under the race detector, so
// allocation counts of pooled paths are not meaningful there.
const raceEnabled = true

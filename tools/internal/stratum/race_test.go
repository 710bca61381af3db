//go:build race

package stratum

// raceEnabled: the race detector makes every allocation bigger, so memory
// figures measured under it are not the server's.
const raceEnabled = true

//go:build !race

package stratum

const raceEnabled = false

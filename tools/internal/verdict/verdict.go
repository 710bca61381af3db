// Package verdict judges a benchmark's figures against their targets the
// same way in every benchmark program: a missed target prints NOT MET, a
// figure that could not be measured prints NOT MET (not measured), and
// either fails the run, so that no claim passes silently.
package verdict

import (
	"fmt"
	"math"
	"strings"
)

// The words a benchmark prints beside a target.
const (
	Met         = "met"
	NotMet      = "NOT MET"
	NotMeasured = "NOT MET (not measured)"
)

// Judge collects the verdicts of one run. The zero value is ready.
type Judge struct {
	judged int
	missed []string
}

// Check records one target and returns the word to print: met only when
// the figure was measured and met the target.
func (j *Judge) Check(target string, measured, met bool) string {
	j.judged++
	switch {
	case !measured:
		j.missed = append(j.missed, target+" (not measured)")
		return NotMeasured
	case !met:
		j.missed = append(j.missed, target)
		return NotMet
	}
	return Met
}

// AtMost judges a figure that must not exceed limit.
func (j *Judge) AtMost(target string, got, limit float64) string {
	return j.Check(target, Measured(got), got <= limit)
}

// AtLeast judges a figure that must reach limit.
func (j *Judge) AtLeast(target string, got, limit float64) string {
	return j.Check(target, Measured(got), got >= limit)
}

// Measured tells a figure from the remains of a failed measurement: every
// figure the benchmarks judge is a time, a size, a rate or a ratio, so a
// NaN, an infinity or a negative number means nothing was measured.
func Measured(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0
}

// Err is nil when targets were judged and every one was met; it names the
// others. A run that judged nothing fails too.
func (j *Judge) Err() error {
	if j.judged == 0 {
		return fmt.Errorf("no target was judged")
	}
	if len(j.missed) > 0 {
		return fmt.Errorf("%d of %d targets not met: %s", len(j.missed), j.judged, strings.Join(j.missed, "; "))
	}
	return nil
}

package verdict

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJudge(t *testing.T) {
	type check func(*Judge) string
	cases := []struct {
		name   string
		checks []check
		words  []string
		ok     bool
	}{
		{"nothing judged fails", nil, nil, false},
		{"met", []check{func(j *Judge) string { return j.Check("a", true, true) }}, []string{Met}, true},
		{"missed", []check{func(j *Judge) string { return j.Check("a", true, false) }}, []string{NotMet}, false},
		{"not measured though met", []check{func(j *Judge) string { return j.Check("a", false, true) }}, []string{NotMeasured}, false},
		{"one missed of two", []check{
			func(j *Judge) string { return j.Check("a", true, true) },
			func(j *Judge) string { return j.Check("b", true, false) },
		}, []string{Met, NotMet}, false},
		{"at most, under", []check{func(j *Judge) string { return j.AtMost("a", 99, 100) }}, []string{Met}, true},
		{"at most, equal", []check{func(j *Judge) string { return j.AtMost("a", 100, 100) }}, []string{Met}, true},
		{"at most, over", []check{func(j *Judge) string { return j.AtMost("a", 101, 100) }}, []string{NotMet}, false},
		{"at most, NaN", []check{func(j *Judge) string { return j.AtMost("a", math.NaN(), 100) }}, []string{NotMeasured}, false},
		{"at most, minus infinity", []check{func(j *Judge) string { return j.AtMost("a", math.Inf(-1), 100) }}, []string{NotMeasured}, false},
		{"at most, negative", []check{func(j *Judge) string { return j.AtMost("a", -5, 100) }}, []string{NotMeasured}, false},
		{"at least, over", []check{func(j *Judge) string { return j.AtLeast("a", 0.95, 0.9) }}, []string{Met}, true},
		{"at least, under", []check{func(j *Judge) string { return j.AtLeast("a", 0.5, 0.9) }}, []string{NotMet}, false},
		{"at least, infinity", []check{func(j *Judge) string { return j.AtLeast("a", math.Inf(1), 0.9) }}, []string{NotMeasured}, false},
		{"at least, NaN", []check{func(j *Judge) string { return j.AtLeast("a", math.NaN(), 0.9) }}, []string{NotMeasured}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var j Judge
			var words []string
			for _, c := range tc.checks {
				words = append(words, c(&j))
			}
			require.Equal(t, tc.words, words)
			if tc.ok {
				require.NoError(t, j.Err())
			} else {
				require.Error(t, j.Err())
			}
		})
	}
}

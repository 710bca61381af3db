package provision

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The recap parser reads every host's counts, whatever their size: a
// failing run that changed two things on one host is caught.
func TestParseRecap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		out     string
		changed map[string]int
		failed  map[string]int
	}{
		{
			name: "a failed run that changed nothing",
			out: `PLAY RECAP *********************************************************************
node-01                    : ok=3    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
node-02                    : ok=4    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
`,
			changed: map[string]int{},
			failed:  map[string]int{"node-01": 1, "node-02": 0},
		},
		{
			name: "a failed run that changed two things on another host",
			out: `PLAY RECAP *********************************************************************
node-01                    : ok=3    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
node-04                    : ok=9    changed=2    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
`,
			changed: map[string]int{"node-04": 2},
			failed:  map[string]int{"node-01": 1, "node-04": 0},
		},
		{
			name: "a run that changed ten things",
			out: `node-12                    : ok=31   changed=10   unreachable=0    failed=0    skipped=3    rescued=0    ignored=0
`,
			changed: map[string]int{"node-12": 10},
			failed:  map[string]int{"node-12": 0},
		},
		{name: "no recap", out: "ERROR! the playbook could not be found\n", changed: map[string]int{}, failed: map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := parseRecap(tc.out)
			assert.Equal(t, tc.changed, r.changedHosts())
			failed := map[string]int{}
			for host, h := range r {
				failed[host] = h.failed
			}
			assert.Equal(t, tc.failed, failed)
		})
	}
}

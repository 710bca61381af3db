package dbrestore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The database job a restore registers gives its members the restore's
// time before Nomad judges them; no other job changes.
func TestAllowTime(t *testing.T) {
	_, jobs := testenv.LoadPool(t, testenv.Example(t, "home-12pi"))
	_, before := testenv.LoadPool(t, testenv.Example(t, "home-12pi"))
	AllowTime(jobs, 2*time.Hour)
	seen := false
	for i, j := range jobs {
		if j.Kind != jobspec.KindDatabase {
			assert.Equal(t, before[i].Job, j.Job, "%s unchanged", j.ID())
			continue
		}
		seen = true
		assert.Equal(t, 2*time.Hour, *j.Job.Update.HealthyDeadline)
		assert.Equal(t, 2*time.Hour+5*time.Minute, *j.Job.Update.ProgressDeadline)
		grace := j.Job.TaskGroups[0].Services[0].Checks[0].CheckRestart.Grace
		require.NotNil(t, grace)
		assert.Equal(t, 2*time.Hour, *grace)
	}
	assert.True(t, seen, "the example has a database job")
}

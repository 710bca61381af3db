package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The pool's check holds the pool to what mines and pays: the web
// servers and the archive are followed by status, not by the check.
func TestExpectedLeavesOutWebAndArchive(t *testing.T) {
	pool, _, diags := config.Load(testenv.Example(t, "home-12pi"))
	require.False(t, diags.HasErrors(), diags.Error())
	plan := &Plan{}
	for _, j := range jobspec.Render(pool) {
		plan.Jobs = append(plan.Jobs, &PlannedJob{Job: j})
	}
	var services []string
	for _, e := range Expected(plan) {
		services = append(services, e.Service)
	}
	assert.Contains(t, services, contract.StratumService("ltc"))
	assert.Contains(t, services, contract.DatabaseService(pool.Name))
	assert.NotContains(t, services, contract.WebService(pool.Name))
	assert.NotContains(t, services, contract.ArchiveService(pool.Name))
}

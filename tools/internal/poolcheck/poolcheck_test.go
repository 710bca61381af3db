package poolcheck_test

import (
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolcheck"
)

func entry(statuses ...string) *consulapi.ServiceEntry {
	e := &consulapi.ServiceEntry{}
	for _, s := range statuses {
		e.Checks = append(e.Checks, &consulapi.HealthCheck{Status: s})
	}
	return e
}

func TestVerdict(t *testing.T) {
	wallet := poolcheck.Expected{Service: "ltc-wallet", Instances: 2}
	db := poolcheck.Expected{Service: "pool-database", Instances: 1}
	for _, tc := range []struct {
		name    string
		wallets []*consulapi.ServiceEntry
		dbs     []*consulapi.ServiceEntry
		want    string
	}{
		{"all passing", []*consulapi.ServiceEntry{entry("passing"), entry("passing")}, []*consulapi.ServiceEntry{entry("passing")}, "passing"},
		{"one wallet missing", []*consulapi.ServiceEntry{entry("passing")}, []*consulapi.ServiceEntry{entry("passing")}, "warning"},
		{"one wallet critical", []*consulapi.ServiceEntry{entry("passing"), entry("passing", "critical")}, []*consulapi.ServiceEntry{entry("passing")}, "warning"},
		{"one wallet lagging", []*consulapi.ServiceEntry{entry("passing"), entry("warning")}, []*consulapi.ServiceEntry{entry("passing")}, "warning"},
		{"no healthy wallet", []*consulapi.ServiceEntry{entry("critical"), entry("warning")}, []*consulapi.ServiceEntry{entry("passing")}, "critical"},
		{"database gone", []*consulapi.ServiceEntry{entry("passing"), entry("passing")}, nil, "critical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := poolcheck.Judge([]poolcheck.ServiceState{
				poolcheck.StateOf(wallet, tc.wallets),
				poolcheck.StateOf(db, tc.dbs),
			})
			assert.Equal(t, tc.want, v.Status, v.Output())
		})
	}
}

func TestOutputNamesEachService(t *testing.T) {
	v := poolcheck.Judge([]poolcheck.ServiceState{
		poolcheck.StateOf(poolcheck.Expected{Service: "b", Instances: 2}, []*consulapi.ServiceEntry{entry("passing")}),
		poolcheck.StateOf(poolcheck.Expected{Service: "a", Instances: 1}, []*consulapi.ServiceEntry{entry("passing")}),
	})
	assert.Equal(t, "passing  a: 1/1 passing, 0 warning, 0 critical\nwarning  b: 1/2 passing, 0 warning, 0 critical", v.Output())
	assert.Equal(t, "no services expected", poolcheck.Judge(nil).Output())
}

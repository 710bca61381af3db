package deploy

import (
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
)

func TestSilentNodes(t *testing.T) {
	nomad := []*nomadapi.NodeListStub{
		{Name: "node-01", Address: "192.168.1.11"},
		{Name: "node-02", Address: "192.168.1.12"},
		{Name: "node-03", Address: "192.168.1.13"},
	}
	catalog := []*consulapi.Node{
		{Node: "node-01", Address: "192.168.1.11"},
		{Node: "node-02", Address: "192.168.1.12"},
	}
	serf := func(node, status string) *consulapi.HealthCheck {
		return &consulapi.HealthCheck{Node: node, CheckID: serfHealth, Status: status}
	}
	for _, tc := range []struct {
		name     string
		nomad    []*nomadapi.NodeListStub
		critical consulapi.HealthChecks
		catalog  []*consulapi.Node
		want     map[string]string
	}{
		{"every agent answers", nomad[:2], nil, catalog, map[string]string{}},
		{"gossip lost node-02", nomad[:2], consulapi.HealthChecks{serf("node-02", "critical")}, catalog,
			map[string]string{"node-02": "Consul's gossip no longer reaches its agent"}},
		{"node-03 reaped after a whole-cluster restart", nomad, nil, catalog,
			map[string]string{"node-03": "Consul has no agent of it"}},
		{"a service check is not the node's", nomad[:2], consulapi.HealthChecks{{Node: "node-01", CheckID: "service:ltc-wallet", Status: "critical"}}, catalog,
			map[string]string{}},
		{"named otherwise in Consul, matched by address", nomad[:2], consulapi.HealthChecks{serf("pi-02", "critical")},
			[]*consulapi.Node{{Node: "pi-01", Address: "192.168.1.11"}, {Node: "pi-02", Address: "192.168.1.12"}},
			map[string]string{"node-02": "Consul's gossip no longer reaches its agent"}},
		{"no Nomad node is Consul's: nothing said", nomad, nil,
			[]*consulapi.Node{{Node: "other", Address: "10.0.0.1"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, silentNodes(tc.nomad, tc.critical, tc.catalog))
		})
	}
}

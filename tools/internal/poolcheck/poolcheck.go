// Package poolcheck is the pool-level health check: whether every Consul
// service the pool expects has its instances, and healthy. Nomad registers
// each service and its checks; nothing in Nomad or Consul says "the pool is
// whole". `poolctl deploy` records the expected services in Consul KV and
// registers the pool as an external service with one check; the pool's
// health watcher keeps that check current with blocking queries.
package poolcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Expected is a service the pool needs, with how many instances it runs.
type Expected struct {
	Service   string `json:"service"`
	Job       string `json:"job"`
	Instances int    `json:"instances"`
}

// ServiceState is what Consul says of one expected service.
type ServiceState struct {
	Expected
	Passing, Warning, Critical int
}

// Status is the aggregate: passing when every expected instance passes,
// warning when every service has a passing instance but some are missing or
// not passing (degraded), critical when a service has no passing instance.
func (s ServiceState) Status() string {
	switch {
	case s.Passing == 0:
		return consulapi.HealthCritical
	case s.Passing < s.Instances || s.Warning > 0 || s.Critical > 0:
		return consulapi.HealthWarning
	}
	return consulapi.HealthPassing
}

func (s ServiceState) String() string {
	return fmt.Sprintf("%s: %d/%d passing, %d warning, %d critical", s.Service, s.Passing, s.Instances, s.Warning, s.Critical)
}

// Verdict is the pool's status and the per-service lines behind it.
type Verdict struct {
	Status   string
	Services []ServiceState
}

// Output is the check's output text.
func (v Verdict) Output() string {
	lines := make([]string, 0, len(v.Services))
	for _, s := range v.Services {
		lines = append(lines, s.Status()+"  "+s.String())
	}
	if len(lines) == 0 {
		return "no services expected"
	}
	return strings.Join(lines, "\n")
}

// Judge aggregates service states into the pool's verdict.
func Judge(states []ServiceState) Verdict {
	v := Verdict{Status: consulapi.HealthPassing, Services: states}
	rank := map[string]int{consulapi.HealthPassing: 0, consulapi.HealthWarning: 1, consulapi.HealthCritical: 2}
	for _, s := range states {
		if rank[s.Status()] > rank[v.Status] {
			v.Status = s.Status()
		}
	}
	sort.Slice(v.Services, func(i, j int) bool { return v.Services[i].Service < v.Services[j].Service })
	return v
}

// StateOf counts a service's instances by their aggregated check status.
func StateOf(e Expected, entries []*consulapi.ServiceEntry) ServiceState {
	s := ServiceState{Expected: e}
	for _, entry := range entries {
		switch entry.Checks.AggregatedStatus() {
		case consulapi.HealthPassing:
			s.Passing++
		case consulapi.HealthWarning:
			s.Warning++
		default:
			s.Critical++
		}
	}
	return s
}

// Evaluate reads the current health of every expected service.
func Evaluate(ctx context.Context, consul *consulapi.Client, expected []Expected) (Verdict, error) {
	states := make([]ServiceState, 0, len(expected))
	for _, e := range expected {
		entries, _, err := consul.Health().Service(e.Service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return Verdict{}, fmt.Errorf("read health of service %q: %w", e.Service, err)
		}
		states = append(states, StateOf(e, entries))
	}
	return Judge(states), nil
}

// ReadExpected reads the services the last deploy recorded for pool; nil
// when there was no deploy.
func ReadExpected(consul *consulapi.Client, pool string, q *consulapi.QueryOptions) ([]Expected, uint64, error) {
	pair, meta, err := consul.KV().Get(contract.ServicesKey(pool), q)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s from Consul KV: %w", contract.ServicesKey(pool), err)
	}
	if pair == nil {
		return nil, meta.LastIndex, nil
	}
	var expected []Expected
	if err := json.Unmarshal(pair.Value, &expected); err != nil {
		return nil, meta.LastIndex, fmt.Errorf("decode %s: %w", contract.ServicesKey(pool), err)
	}
	return expected, meta.LastIndex, nil
}

// WriteExpected records the services the pool expects.
func WriteExpected(ctx context.Context, consul *consulapi.Client, pool string, expected []Expected) error {
	data, err := json.Marshal(expected)
	if err != nil {
		return err
	}
	if _, err := consul.KV().Put(&consulapi.KVPair{Key: contract.ServicesKey(pool), Value: data}, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("write %s to Consul KV: %w", contract.ServicesKey(pool), err)
	}
	return nil
}

// Publish registers (or updates) the pool's external service and its check
// in the Consul catalog with verdict v. External nodes are not owned by any
// agent, so anti-entropy leaves them alone and any node may update them.
func Publish(ctx context.Context, consul *consulapi.Client, pool string, v Verdict) error {
	reg := &consulapi.CatalogRegistration{
		Node:     contract.PoolNode(pool),
		Address:  "127.0.0.1",
		NodeMeta: map[string]string{"external-node": "true", "external-probe": "false"},
		Service: &consulapi.AgentService{
			ID:      pool,
			Service: contract.PoolService(pool),
			Tags:    []string{"pool"},
			Meta:    map[string]string{"pool": pool},
		},
		Check: &consulapi.AgentCheck{
			Node:      contract.PoolNode(pool),
			CheckID:   contract.PoolCheckID(pool),
			Name:      contract.PoolCheckName,
			Status:    v.Status,
			Output:    v.Output(),
			ServiceID: pool,
			Notes:     "Every service of the pool has all its instances passing. Kept current by the pool's health watcher.",
		},
	}
	if _, err := consul.Catalog().Register(reg, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("register the pool's check in the Consul catalog: %w", err)
	}
	return nil
}

// Current reads the pool's check as last published.
func Current(consul *consulapi.Client, pool string) (*consulapi.HealthCheck, error) {
	checks, _, err := consul.Health().Node(contract.PoolNode(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("read the pool's check: %w", err)
	}
	for _, c := range checks {
		if c.CheckID == contract.PoolCheckID(pool) {
			return c, nil
		}
	}
	return nil, nil
}

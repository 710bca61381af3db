// Package floating decides whether a node may hold the pool's floating
// address: keepalived runs `poolctl floating-check` on every node, and a
// node whose check fails gives the address up (VRRP fault state) to one
// whose check passes.
//
// The decision is Consul's: the stratum server's own checks, as the local
// agent runs them for the instance Nomad registered on this node. When
// Nomad stops an instance it deregisters it first (shutdown_delay), so
// the address leaves the node before the server sends its miners away.
package floating

import (
	"context"
	"fmt"
	"sort"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
)

// Check returns nil when every named service has an instance registered
// on the local Consul agent whose checks all pass, and otherwise says
// which service and which check, in one line.
func Check(ctx context.Context, consul *consulapi.Client, services []string) error {
	if len(services) == 0 {
		return fmt.Errorf("no service to check")
	}
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	for _, name := range services {
		instances, err := consul.Agent().ServicesWithFilterOpts(fmt.Sprintf("Service == %q", name), q)
		if err != nil {
			return fmt.Errorf("ask the local Consul agent for %s: %w", name, err)
		}
		if len(instances) == 0 {
			return fmt.Errorf("%s: no instance on this node (or the token may not read it)", name)
		}
		checks, err := consul.Agent().ChecksWithFilterOpts(fmt.Sprintf("ServiceName == %q", name), q)
		if err != nil {
			return fmt.Errorf("ask the local Consul agent for the checks of %s: %w", name, err)
		}
		if len(checks) == 0 {
			return fmt.Errorf("%s: the instance on this node has no checks", name)
		}
		ids := make([]string, 0, len(checks))
		for id := range checks {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			c := checks[id]
			if c.Status != consulapi.HealthPassing {
				return fmt.Errorf("%s: check %q is %s: %s", name, c.Name, c.Status, firstLine(c.Output))
			}
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

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
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
)

// Check returns nil when every named service has an instance registered
// on the local Consul agent whose checks all pass, and otherwise says
// which service and which check, in one line. It asks the agent's own
// health endpoint, which answers a token that may not read the service
// with 403 (the agent's service list would just leave it out).
func Check(ctx context.Context, consul *consulapi.Client, services []string) error {
	if len(services) == 0 {
		return fmt.Errorf("no service to check")
	}
	q := (&consulapi.QueryOptions{}).WithContext(ctx)
	for _, name := range services {
		var checks []consulapi.AgentServiceChecksInfo
		_, err := consul.Raw().Query("/v1/agent/health/service/name/"+url.PathEscape(name), &checks, q)
		if err == nil {
			continue // 200: every instance here passes
		}
		var se consulapi.StatusError
		if !errors.As(err, &se) {
			return fmt.Errorf("ask the local Consul agent about %s: %w", name, err)
		}
		switch se.Code {
		case http.StatusNotFound:
			return fmt.Errorf("%s: no instance on this node", name)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable: // warning, critical
			_ = json.Unmarshal([]byte(se.Body), &checks)
			return fmt.Errorf("%s: %s", name, failing(checks))
		default:
			return fmt.Errorf("ask the local Consul agent about %s: %d %s", name, se.Code, firstLine(se.Body))
		}
	}
	return nil
}

// failing names the first check of the instances that does not pass.
func failing(instances []consulapi.AgentServiceChecksInfo) string {
	for _, in := range instances {
		checks := slices.Clone(in.Checks)
		sort.Slice(checks, func(i, j int) bool { return checks[i].CheckID < checks[j].CheckID })
		for _, c := range checks {
			if c.Status != consulapi.HealthPassing {
				return fmt.Sprintf("check %q is %s: %s", c.Name, c.Status, firstLine(c.Output))
			}
		}
	}
	return "not passing"
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

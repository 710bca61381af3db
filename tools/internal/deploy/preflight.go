package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/aclcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Preflight checks, before anything is sent, that the Nomad and Consul
// tokens may do everything command does for the pool (the contract's
// accesses, which the deploy policies grant). Each missing permission is
// one line of the error, saying which token, what, and why it is needed.
// With ACLs off there is nothing to check.
func Preflight(ctx context.Context, c *Clients, pool contract.Pool, command string) error {
	nomadNeeds, consulNeeds := pool.OperatorNeeds(command)
	var lines []string
	nomadMissing, policies, err := aclcheck.NomadMissing(ctx, c.Nomad, nomadNeeds)
	if errors.Is(err, aclcheck.ErrNoNomadToken) {
		return fmt.Errorf("nomad at %s: permission denied; set NOMAD_TOKEN to a token allowed to do this (none was given, and the anonymous one may do nothing here)", c.NomadAt.Addr)
	}
	if err != nil {
		return fmt.Errorf("nomad at %s: %w", c.NomadAt.Addr, err)
	}
	for _, a := range nomadMissing {
		lines = append(lines, fmt.Sprintf("the Nomad token (policies: %s) may not %s, which %s %s needs (%s)",
			strings.Join(policies, ", "), a, "poolctl", command, a.Why))
	}
	consulMissing, err := aclcheck.ConsulMissing(ctx, c.ConsulConfig, consulNeeds)
	if err != nil {
		return fmt.Errorf("consul at %s: %w", c.ConsulAt.Addr, err)
	}
	for _, a := range consulMissing {
		lines = append(lines, fmt.Sprintf("the Consul token may not %s, which poolctl %s needs (%s)", verb(a), command, a.Why))
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("%s\nthe deploy policies `poolctl policies` writes grant all of this; nothing was sent", strings.Join(lines, "\n"))
}

func verb(a contract.Access) string {
	what := map[string]string{
		contract.RuleKey: "key", contract.RuleKeyPrefix: "keys under", contract.RuleService: "service",
		contract.RuleNode: "node", contract.RuleNodePrefix: "nodes named", contract.RuleSessionPrefix: "sessions on nodes named",
	}[a.Rule]
	return fmt.Sprintf("%s %s %q", a.Level, what, a.Name)
}

package contract

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConsulPolicy writes a grantee's Consul ACL rules, each block under a
// comment saying why it is there. An access listed twice is written once.
func ConsulPolicy(g Grantee) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	comment(b, g.Name+": "+g.Describe+".")
	var seen []Access
	for _, a := range g.Consul {
		if slices.ContainsFunc(seen, func(s Access) bool { return s.Rule == a.Rule && s.Name == a.Name && s.Level == a.Level }) {
			continue
		}
		seen = append(seen, a)
		comment(b, a.Why)
		b.AppendNewBlock(a.Rule, []string{a.Name}).Body().SetAttributeValue("policy", cty.StringVal(a.Level))
	}
	return hclwrite.Format(f.Bytes())
}

// NomadPolicy writes the operator's Nomad ACL rules.
func NomadPolicy(d NomadDeploy) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	comment(b, DeployPolicy+": register, plan, watch, revert and force the pool's jobs,\n"+
		"write their variables, mount their host volumes, read nodes; nothing else\n"+
		"(no ACLs, no node writes, no agent, no operator).")
	ns := b.AppendNewBlock("namespace", []string{Namespace}).Body()
	ns.SetAttributeValue("capabilities", strings_(d.Capabilities))
	vars := ns.AppendNewBlock("variables", nil).Body()
	for _, path := range d.Variables {
		vars.AppendNewBlock("path", []string{path}).Body().SetAttributeValue("capabilities", strings_([]string{"write", "read", "list"}))
	}
	for _, v := range d.Volumes {
		comment(b, "Registering a job that mounts "+v+" read-write needs this.")
		b.AppendNewBlock("host_volume", []string{v}).Body().SetAttributeValue("capabilities", strings_([]string{"mount-readwrite"}))
	}
	comment(b, "deploy and status read the nodes (placement, volumes, readiness).")
	b.AppendNewBlock("node", nil).Body().SetAttributeValue("policy", cty.StringVal(Read))
	return hclwrite.Format(f.Bytes())
}

func strings_(ss []string) cty.Value {
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

func comment(b *hclwrite.Body, text string) {
	var tokens hclwrite.Tokens
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		tokens = append(tokens, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte(strings.TrimRight("# "+line, " ") + "\n")})
	}
	b.AppendUnstructuredTokens(tokens)
}

// CatchupCapabilities are what the catch-up of missed periodic slots
// (package catchup) may do in the pool's namespace: list and read the
// jobs, and force a periodic one (Periodic.Force needs dispatch-job).
var CatchupCapabilities = []string{"list-jobs", "read-job", "dispatch-job"}

// CatchupPolicy is the Nomad ACL policy of the catch-up.
func CatchupPolicy() []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	comment(b, "catch-up: read the pool's jobs and force a periodic job whose slot\n"+
		"passed with no launch (dispatch-job; it would also allow dispatching a\n"+
		"parameterized job, which the pool has none of).")
	b.AppendNewBlock("namespace", []string{Namespace}).Body().SetAttributeValue("capabilities", strings_(CatchupCapabilities))
	return hclwrite.Format(f.Bytes())
}

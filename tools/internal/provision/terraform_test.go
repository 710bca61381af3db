package provision

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/scryptpool/poolmicrocloud/tools/internal/inventory"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

func terraformFiles(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot(t), "terraform", "*.tf"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	files := map[string][]byte{}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		require.NoError(t, err)
		files[filepath.Base(p)] = src
	}
	return files
}

// terraform fmt formats as hclwrite.Format does.
func TestTerraformFormatted(t *testing.T) {
	for name, src := range terraformFiles(t) {
		require.Equal(t, string(hclwrite.Format(src)), string(src), "%s is not formatted: terraform fmt terraform/", name)
	}
}

type tfResource struct {
	typ, name string
	body      *hclsyntax.Body
}

func (r tfResource) str(t *testing.T, attr string) string {
	t.Helper()
	a, ok := r.body.Attributes[attr]
	require.True(t, ok, "%s.%s has no %s", r.typ, r.name, attr)
	v, diags := a.Expr.Value(nil)
	require.False(t, diags.HasErrors(), "%s.%s.%s: %s", r.typ, r.name, attr, diags.Error())
	require.Equal(t, cty.String, v.Type())
	return v.AsString()
}

// refs lists the traversals of an attribute, as "type.name.attr".
func (r tfResource) refs(t *testing.T, attr string) []string {
	t.Helper()
	a, ok := r.body.Attributes[attr]
	require.True(t, ok, "%s.%s has no %s", r.typ, r.name, attr)
	var out []string
	for _, tr := range a.Expr.Variables() {
		var parts []string
		for _, step := range tr {
			switch s := step.(type) {
			case hcl.TraverseRoot:
				parts = append(parts, s.Name)
			case hcl.TraverseAttr:
				parts = append(parts, s.Name)
			}
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

func parseTerraform(t *testing.T) (map[string]tfResource, map[string]*hclsyntax.Body) {
	t.Helper()
	resources := map[string]tfResource{}
	variables := map[string]*hclsyntax.Body{}
	for name, src := range terraformFiles(t) {
		f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		require.False(t, diags.HasErrors(), diags.Error())
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "resource":
				resources[b.Labels[0]+"."+b.Labels[1]] = tfResource{b.Labels[0], b.Labels[1], b.Body}
			case "variable":
				variables[b.Labels[0]] = b.Body
			}
		}
	}
	return resources, variables
}

var commentLine = regexp.MustCompile(`(?m)^\s*#.*\n`)

// canonicalPolicy is an ACL policy's rules without comments, formatted.
func canonicalPolicy(t *testing.T, rules string) string {
	t.Helper()
	stripped := commentLine.ReplaceAllString(rules+"\n", "")
	_, diags := hclsyntax.ParseConfig([]byte(stripped), "policy.hcl", hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%s\n%s", diags.Error(), stripped)
	return strings.TrimSpace(string(hclwrite.Format([]byte(stripped))))
}

// The Terraform configuration creates the same policies (same rules), the
// same tokens with the same policies, and an agent token for each node of
// the production example, as ansible/acl.yml bootstraps.
func TestTerraformMatchesPlaybookPolicies(t *testing.T) {
	resources, variables := parseTerraform(t)
	policyFiles, err := filepath.Glob(filepath.Join(ansibleDir(t), "roles", "acl", "files", "*.hcl"))
	require.NoError(t, err)
	require.Len(t, policyFiles, 3)
	seen := map[string]bool{}
	for _, f := range policyFiles {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		base := strings.TrimSuffix(filepath.Base(f), ".hcl")
		system, name, _ := strings.Cut(base, "-")
		kinds := map[string]struct{ typ, rules string }{
			"nomad":  {"nomad_acl_policy", "rules_hcl"},
			"consul": {"consul_acl_policy", "rules"},
		}
		kind, ok := kinds[system]
		require.True(t, ok, "%s: policy files are named <nomad|consul>-<policy>.hcl", f)
		typ, rulesAttr := kind.typ, kind.rules
		var found *tfResource
		for _, r := range resources {
			if r.typ == typ && r.str(t, "name") == name {
				r := r
				found = &r
			}
		}
		require.NotNil(t, found, "terraform/ has no %s named %q (ansible/roles/acl/files/%s)", typ, name, filepath.Base(f))
		seen[found.typ+"."+found.name] = true
		require.Equal(t, canonicalPolicy(t, string(src)), canonicalPolicy(t, found.str(t, rulesAttr)),
			"the rules of %s.%s differ from %s", found.typ, found.name, f)
	}
	for key, r := range resources {
		if strings.HasSuffix(r.typ, "_acl_policy") {
			require.True(t, seen[key], "%s has no counterpart in ansible/roles/acl/files", key)
		}
	}

	// The tokens the acl role creates, and their policies.
	deploy := resources["nomad_acl_token.poolctl_deploy"]
	require.NotNil(t, deploy.body, "terraform/ has no nomad_acl_token.poolctl_deploy")
	require.Equal(t, "client", deploy.str(t, "type"))
	require.Equal(t, []string{"nomad_acl_policy.poolctl_deploy.name"}, deploy.refs(t, "policies"))
	for token, policy := range map[string]string{
		"consul_acl_token.nomad_agents":   "consul_acl_policy.nomad_agents.name",
		"consul_acl_token.poolctl_deploy": "consul_acl_policy.poolctl_deploy.name",
	} {
		r, ok := resources[token]
		require.True(t, ok, "terraform/ has no %s", token)
		require.Equal(t, []string{policy}, r.refs(t, "policies"), token)
	}
	agent, ok := resources["consul_acl_token.agent"]
	require.True(t, ok, "terraform/ has no per-node consul_acl_token.agent")
	require.Len(t, agent.body.Blocks, 1)
	require.Equal(t, "node_identities", agent.body.Blocks[0].Type)

	// Its default nodes are the production example's.
	r := validate.File(filepath.Join(repoRoot(t), "examples", "home-12pi", "pool.hcl"))
	require.True(t, r.OK())
	var want []string
	for _, n := range inventory.Build("", r.Pool, r.Jobs).Nodes {
		want = append(want, n.Name)
	}
	nodes, diags := variables["nodes"].Attributes["default"].Expr.Value(nil)
	require.False(t, diags.HasErrors())
	var got []string
	for _, v := range nodes.AsValueSlice() {
		got = append(got, v.AsString())
	}
	sort.Strings(got)
	require.Equal(t, want, got)
	dc, diags := variables["datacenter"].Attributes["default"].Expr.Value(nil)
	require.False(t, diags.HasErrors())
	require.Equal(t, r.Pool.Settings.Datacenter, dc.AsString())
}

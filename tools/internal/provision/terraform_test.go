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
	"github.com/zclconf/go-cty/cty/function"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
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

// tfEval evaluates a Terraform expression the way Terraform would for the
// functions and references this configuration uses (var.*, each.value,
// file, fileset, trimprefix, trimsuffix), with paths relative to terraform/.
func tfEval(t *testing.T, variables map[string]*hclsyntax.Body, expr hcl.Expression, each string) cty.Value {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "terraform")
	vars := map[string]cty.Value{}
	for name, body := range variables {
		v, diags := body.Attributes["default"].Expr.Value(nil)
		require.False(t, diags.HasErrors(), diags.Error())
		vars[name] = v
	}
	str := func(name string, impl func(args []string) (cty.Value, error)) function.Function {
		return function.New(&function.Spec{
			VarParam: &function.Parameter{Name: name, Type: cty.String},
			Type:     function.StaticReturnType(cty.DynamicPseudoType),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				ss := make([]string, len(args))
				for i, a := range args {
					ss[i] = a.AsString()
				}
				return impl(ss)
			},
		})
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "each": cty.ObjectVal(map[string]cty.Value{"value": cty.StringVal(each)})},
		Functions: map[string]function.Function{
			"file": str("path", func(a []string) (cty.Value, error) {
				src, err := os.ReadFile(filepath.Join(dir, a[0]))
				return cty.StringVal(string(src)), err
			}),
			"fileset": str("args", func(a []string) (cty.Value, error) {
				matches, err := filepath.Glob(filepath.Join(dir, a[0], a[1]))
				if err != nil || len(matches) == 0 {
					return cty.SetValEmpty(cty.String), err
				}
				var out []cty.Value
				for _, m := range matches {
					out = append(out, cty.StringVal(filepath.Base(m)))
				}
				return cty.SetVal(out), nil
			}),
			"trimprefix": str("args", func(a []string) (cty.Value, error) { return cty.StringVal(strings.TrimPrefix(a[0], a[1])), nil }),
			"trimsuffix": str("args", func(a []string) (cty.Value, error) { return cty.StringVal(strings.TrimSuffix(a[0], a[1])), nil }),
		},
	}
	v, diags := expr.Value(ctx)
	require.False(t, diags.HasErrors(), diags.Error())
	return v
}

// The Terraform configuration creates the same policies (same rules) as
// the acl role: the pool's, from the policy files poolctl writes for the
// production example, and nomad-agents from the role's files; the same
// tokens with the same policies, and an agent token for each node of the
// production example, as ansible/acl.yml bootstraps.
func TestTerraformMatchesPlaybookPolicies(t *testing.T) {
	resources, variables := parseTerraform(t)
	r := validate.File(filepath.Join(repoRoot(t), "examples", "home-12pi", "pool.hcl"))
	require.True(t, r.OK())
	want := map[string]string{}
	for name, src := range contract.FromConfig(r.Pool).PolicyFiles() {
		want[strings.TrimSuffix(name, ".hcl")] = canonicalPolicy(t, string(src))
	}
	agents, err := os.ReadFile(filepath.Join(ansibleDir(t), "roles", "acl", "files", "consul-nomad-agents.hcl"))
	require.NoError(t, err)
	want["consul-nomad-agents"] = canonicalPolicy(t, string(agents))

	got := map[string]string{}
	for key, res := range resources {
		system, ok := map[string]string{"consul_acl_policy": "consul", "nomad_acl_policy": "nomad"}[res.typ]
		if !ok {
			continue
		}
		rulesAttr := map[string]string{"consul": "rules", "nomad": "rules_hcl"}[system]
		eachValues := []string{""}
		if fe, ok := res.body.Attributes["for_each"]; ok {
			eachValues = nil
			for _, v := range tfEval(t, variables, fe.Expr, "").AsValueSlice() {
				eachValues = append(eachValues, v.AsString())
			}
		}
		require.NotEmpty(t, eachValues, "%s makes no policy", key)
		for _, each := range eachValues {
			name := tfEval(t, variables, res.body.Attributes["name"].Expr, each).AsString()
			rules := tfEval(t, variables, res.body.Attributes[rulesAttr].Expr, each).AsString()
			got[system+"-"+name] = canonicalPolicy(t, rules)
		}
	}
	require.Equal(t, want, got, "terraform/'s policies are not the pool's (poolctl policies) and the acl role's")

	// The tokens the acl role creates, and their policies.
	deploy := resources["nomad_acl_token.poolctl_deploy"]
	require.NotNil(t, deploy.body, "terraform/ has no nomad_acl_token.poolctl_deploy")
	require.Equal(t, "client", deploy.str(t, "type"))
	require.Equal(t, []string{"nomad_acl_policy.poolctl_deploy.name"}, deploy.refs(t, "policies"))
	for token, policy := range map[string]string{
		"consul_acl_token.nomad_agents":   "consul_acl_policy.nomad_agents.name",
		"consul_acl_token.poolctl_deploy": "consul_acl_policy.pool.name",
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
	var wantNodes []string
	for _, n := range inventory.Build("", r.Pool, r.Jobs).Nodes {
		wantNodes = append(wantNodes, n.Name)
	}
	nodes, diags := variables["nodes"].Attributes["default"].Expr.Value(nil)
	require.False(t, diags.HasErrors())
	var gotNodes []string
	for _, v := range nodes.AsValueSlice() {
		gotNodes = append(gotNodes, v.AsString())
	}
	sort.Strings(gotNodes)
	require.Equal(t, wantNodes, gotNodes)
	dc, diags := variables["datacenter"].Attributes["default"].Expr.Value(nil)
	require.False(t, diags.HasErrors())
	require.Equal(t, r.Pool.Settings.Datacenter, dc.AsString())
}

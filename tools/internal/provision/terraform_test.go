package provision

import (
	"encoding/json"
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
	"github.com/zclconf/go-cty/cty/function/stdlib"

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

// indexKeys lists the string keys an attribute's references index with
// (pool["x"] gives "x").
func (r tfResource) indexKeys(t *testing.T, attr string) []string {
	t.Helper()
	a, ok := r.body.Attributes[attr]
	require.True(t, ok, "%s.%s has no %s", r.typ, r.name, attr)
	var out []string
	for _, tr := range a.Expr.Variables() {
		for _, step := range tr {
			if s, ok := step.(hcl.TraverseIndex); ok && s.Key.Type() == cty.String {
				out = append(out, s.Key.AsString())
			}
		}
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
// file, fileexists, fileset, trimprefix, trimsuffix, trimspace,
// jsonencode), with paths
// relative to terraform/ and the variables' defaults.
func tfEval(t *testing.T, variables map[string]*hclsyntax.Body, expr hcl.Expression, each string) cty.Value {
	t.Helper()
	return tfEvalWith(t, variables, nil, expr, each)
}

// tfEvalWith is tfEval with some variables set (as with -var).
func tfEvalWith(t *testing.T, variables map[string]*hclsyntax.Body, set map[string]string, expr hcl.Expression, each string) cty.Value {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "terraform")
	vars := map[string]cty.Value{}
	for name, body := range variables {
		v, diags := body.Attributes["default"].Expr.Value(nil)
		require.False(t, diags.HasErrors(), diags.Error())
		vars[name] = v
	}
	for name, v := range set {
		require.Contains(t, variables, name, "terraform/ has no variable %s", name)
		vars[name] = cty.StringVal(v)
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
				p := a[0]
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				src, err := os.ReadFile(p)
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
			"fileexists": str("path", func(a []string) (cty.Value, error) {
				p := a[0]
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				st, err := os.Stat(p)
				return cty.BoolVal(err == nil && st.Mode().IsRegular()), nil
			}),
			"trimprefix": str("args", func(a []string) (cty.Value, error) { return cty.StringVal(strings.TrimPrefix(a[0], a[1])), nil }),
			"trimsuffix": str("args", func(a []string) (cty.Value, error) { return cty.StringVal(strings.TrimSuffix(a[0], a[1])), nil }),
			"trimspace":  str("args", func(a []string) (cty.Value, error) { return cty.StringVal(strings.TrimSpace(a[0])), nil }),
			"jsonencode": stdlib.JSONEncodeFunc,
			"split":      stdlib.SplitFunc,
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
	pool := contract.FromConfig(r.Pool)
	bound := map[string]contract.NomadTaskPolicy{} // by policy name
	for _, tp := range pool.NomadTaskPolicies() {
		bound[tp.Name()] = tp
	}
	for name, src := range pool.PolicyFiles() {
		want[strings.TrimSuffix(name, ".hcl")] = canonicalPolicy(t, string(src))
	}
	for _, tp := range bound {
		// Known in Nomad by its name, not its file's.
		delete(want, strings.TrimSuffix(tp.File(), ".hcl"))
		want["nomad-"+tp.Name()] = canonicalPolicy(t, string(tp.Rules))
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
			// A task-bound policy is bound to the same task as the acl
			// role binds it.
			var jobACL *hclsyntax.Block
			for _, b := range res.body.Blocks {
				if b.Type == "job_acl" {
					jobACL = b
				}
			}
			tp, isBound := bound[name]
			if system != "nomad" || (!isBound && jobACL == nil) {
				continue
			}
			require.True(t, isBound, "%s[%s] is bound to a task; the pool binds no policy %s", key, each, name)
			require.NotNil(t, jobACL, "%s[%s] has no job_acl: policy %s is bound to task %s of %s", key, each, name, tp.Task, tp.Job)
			for attr, v := range map[string]string{"namespace": contract.Namespace, "job_id": tp.Job, "group": tp.Group, "task": tp.Task} {
				a, ok := jobACL.Body.Attributes[attr]
				require.True(t, ok, "%s[%s].job_acl has no %s", key, each, attr)
				require.Equal(t, v, tfEval(t, variables, a.Expr, each).AsString(), "%s[%s].job_acl.%s", key, each, attr)
			}
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
	// keepalived's check token, made when the pool has a floating address
	// (its policy is among the pool's), as the acl role makes it.
	floating, ok := resources["consul_acl_token.floating_address"]
	require.True(t, ok, "terraform/ has no consul_acl_token.floating_address")
	require.Equal(t, "floating-address", floating.str(t, "description"))
	require.Equal(t, []string{"consul_acl_policy.pool.name"}, floating.refs(t, "policies"))
	require.Equal(t, []string{"consul-floating-address.hcl"}, floating.indexKeys(t, "policies"))
	_, wantFloating := want["consul-floating-address"]
	countAttr, ok := floating.body.Attributes["count"]
	require.True(t, ok, "consul_acl_token.floating_address has no count")
	count, _ := tfEval(t, variables, countAttr.Expr, "").AsBigFloat().Int64()
	require.Equal(t, map[bool]int64{true: 1, false: 0}[wantFloating], count,
		"consul_acl_token.floating_address's count (the pool's policies %s a floating-address policy)", map[bool]string{true: "have", false: "have no"}[wantFloating])

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

// The Terraform configuration creates the auth method and binding rule the
// acl role creates for Nomad's workload identities: the fixed parts are the
// role's JSON files, the JWKS is a Nomad server's, checked with the CA file.
func TestTerraformMatchesPlaybookAuthMethod(t *testing.T) {
	resources, variables := parseTerraform(t)
	files := filepath.Join(ansibleDir(t), "roles", "acl", "files")
	var wantMethod struct {
		Name, Type, Description, TokenLocality string
		Config                                 map[string]any
	}
	readJSON(t, filepath.Join(files, "consul-nomad-workloads-auth-method.json"), &wantMethod)
	var wantRule struct{ AuthMethod, Description, BindType, BindName, Selector string }
	readJSON(t, filepath.Join(files, "consul-nomad-workloads-binding-rule.json"), &wantRule)

	method, ok := resources["consul_acl_auth_method.nomad_workloads"]
	require.True(t, ok, "terraform/ has no consul_acl_auth_method.nomad_workloads")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644))
	eval := func(r tfResource, attr string) string {
		a, ok := r.body.Attributes[attr]
		require.True(t, ok, "%s.%s has no %s", r.typ, r.name, attr)
		return tfEvalWith(t, variables, map[string]string{"ca_file": ca}, a.Expr, "").AsString()
	}
	require.Equal(t, wantMethod.Name, eval(method, "name"))
	require.Equal(t, wantMethod.Type, eval(method, "type"))
	require.Equal(t, wantMethod.Description, eval(method, "description"))
	require.Equal(t, wantMethod.TokenLocality, eval(method, "token_locality"))
	require.NotContains(t, method.body.Attributes, "max_token_ttl", "the acl role sets no MaxTokenTTL: a task's token lives as long as the task")
	var config map[string]any
	require.NoError(t, json.Unmarshal([]byte(eval(method, "config_json")), &config))
	// The acl role takes the CA text with its trailing newline stripped.
	require.Equal(t, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", config["JWKSCACert"], "JWKSCACert is not the CA file's text")
	address, diags := variables["nomad_address"].Attributes["default"].Expr.Value(nil)
	require.False(t, diags.HasErrors())
	require.Equal(t, address.AsString()+"/.well-known/jwks.json", config["JWKSURL"])
	require.Regexp(t, `^https://[^/]+:4646/\.well-known/jwks\.json$`, config["JWKSURL"])
	defaults, err := os.ReadFile(filepath.Join(ansibleDir(t), "roles", "acl", "defaults", "main.yml"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^acl_nomad_jwks_url: "https://\{\{ pool_node_address \}\}:\{\{ nomad_ports.http \| default\(4646\) \}\}/\.well-known/jwks\.json"$`, string(defaults),
		"the acl role's JWKS address is not the first server's Nomad API")
	delete(config, "JWKSCACert")
	delete(config, "JWKSURL")
	require.Equal(t, wantMethod.Config, config, "the auth method's config differs from the acl role's")

	rule, ok := resources["consul_acl_binding_rule.nomad_workloads"]
	require.True(t, ok, "terraform/ has no consul_acl_binding_rule.nomad_workloads")
	require.Equal(t, []string{"consul_acl_auth_method.nomad_workloads.name"}, rule.refs(t, "auth_method"))
	require.Equal(t, wantRule.AuthMethod, wantMethod.Name)
	require.Equal(t, wantRule.Description, eval(rule, "description"))
	require.Equal(t, wantRule.BindType, eval(rule, "bind_type"))
	require.Equal(t, wantRule.BindName, eval(rule, "bind_name"))
	require.Equal(t, wantRule.Selector, eval(rule, "selector"))
	var bindings int
	for _, r := range resources {
		if r.typ == "consul_acl_binding_rule" {
			bindings++
		}
	}
	require.Equal(t, 1, bindings, "one binding rule: any other would widen what a task gets")
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(src, v), path)
}

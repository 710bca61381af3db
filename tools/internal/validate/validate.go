// Package validate runs every offline check on a pool definition: its
// schema and rules, the jobs rendered from it, and whether they fit the
// cluster model with and without the nodes it must survive losing.
package validate

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/capacity"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// Result is what validating a pool definition found.
type Result struct {
	Pool     *config.Pool
	Files    map[string]*hcl.File
	Jobs     []*jobspec.Job // nil when the definition has errors
	Capacity *capacity.Report
	Diags    hcl.Diagnostics
}

// OK tells whether the pool can be rendered and deployed (warnings allowed).
func (r *Result) OK() bool { return !r.Diags.HasErrors() }

// File validates the pool definition at path.
func File(path string) *Result {
	pool, files, diags := config.Load(path)
	r := &Result{Pool: pool, Files: files, Diags: diags}
	if diags.HasErrors() {
		r.Pool = nil
		return r
	}
	jobs := jobspec.Render(pool)
	r.Capacity = capacity.Analyze(pool.Cluster, jobs)
	r.Diags = append(r.Diags, r.Capacity.Diagnostics(pool.Cluster, pool.NameRange)...)
	if !r.Diags.HasErrors() {
		r.Jobs = jobs
	}
	return r
}

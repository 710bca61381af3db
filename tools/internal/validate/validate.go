// Package validate runs every offline check on a pool definition: its
// schema and rules, the jobs rendered from it, and whether they fit the
// cluster model with and without the nodes it must survive losing.
package validate

import (
	"sort"

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
	r := file(path)
	sortByPosition(r.Diags)
	return r
}

func file(path string) *Result {
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

// sortByPosition orders diagnostics as they appear in the file, the order
// people fix them in (the decoder reports in map order).
func sortByPosition(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
}

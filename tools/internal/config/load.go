package config

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxFileBytes bounds what Load reads: a pool definition is a few kilobytes,
// and anything far larger is a mistake (a chain file, a disk image).
const MaxFileBytes = 1 << 20

var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "pool", LabelNames: []string{"name"}},
		{Type: "cluster"},
		{Type: "coin", LabelNames: []string{"name"}},
		{Type: "database"},
		{Type: "housekeeping"},
	},
}

// Load reads the pool definition at path, decodes it and runs the checks of
// this package. The returned files map holds the source for diagnostics
// snippets; it is never nil.
func Load(path string) (*Pool, map[string]*hcl.File, hcl.Diagnostics) {
	files := map[string]*hcl.File{}
	src, err := readBounded(path)
	if err != nil {
		return nil, files, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read pool definition",
			Detail:   err.Error(),
			Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}
	}
	pool, file, diags := Parse(src, path)
	if file != nil {
		files[path] = file
	}
	if diags.HasErrors() {
		return nil, files, diags
	}
	diags = append(diags, Check(pool)...)
	return pool, files, diags
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a pool definition file", path)
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes; a pool definition is a few kilobytes", path, MaxFileBytes)
	}
	return src, nil
}

// Parse decodes a pool definition from src. It reports syntax and schema
// problems (unknown blocks, wrong types, missing or repeated blocks); the
// semantic rules are in Check. It never panics, whatever src holds.
func Parse(src []byte, filename string) (*Pool, *hcl.File, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, file, diags
	}
	content, contentDiags := file.Body.Content(topSchema)
	diags = append(diags, contentDiags...)

	pool := &Pool{
		Filename:     filename,
		Settings:     newPoolSettings(),
		Cluster:      newCluster(),
		Database:     newDatabase(),
		Housekeeping: newHousekeeping(),
	}
	fileStart := &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
	seen := map[string]*hcl.Block{}
	for _, block := range content.Blocks {
		if block.Type != "coin" {
			if first, dup := seen[block.Type]; dup {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Duplicate %s block", block.Type),
					Detail:   fmt.Sprintf("Only one %s block is allowed; the first is at %s.", block.Type, first.DefRange),
					Subject:  block.DefRange.Ptr(),
				})
				continue
			}
			seen[block.Type] = block
		}
		switch block.Type {
		case "pool":
			pool.Name = block.Labels[0]
			pool.NameRange = block.LabelRanges[0]
			diags = append(diags, gohcl.DecodeBody(block.Body, nil, pool.Settings)...)
		case "cluster":
			diags = append(diags, gohcl.DecodeBody(block.Body, nil, pool.Cluster)...)
		case "coin":
			coin := newCoin(block.Labels[0])
			coin.NameRange = block.LabelRanges[0]
			diags = append(diags, gohcl.DecodeBody(block.Body, nil, coin)...)
			pool.Coins = append(pool.Coins, coin)
		case "database":
			diags = append(diags, gohcl.DecodeBody(block.Body, nil, pool.Database)...)
		case "housekeeping":
			diags = append(diags, gohcl.DecodeBody(block.Body, nil, pool.Housekeeping)...)
		}
	}
	for _, required := range []string{"pool", "cluster"} {
		if seen[required] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing %s block", required),
				Detail:   missingBlockDetail[required],
				Subject:  fileStart,
			})
		}
	}
	if len(pool.Coins) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing coin block",
			Detail:   missingBlockDetail["coin"],
			Subject:  fileStart,
		})
	}
	for _, coin := range pool.Coins {
		if coin.Wallet.Command == "" {
			if chain, ok := Chains[coin.Chain]; ok {
				coin.Wallet.Command = chain.Daemon
			}
		}
	}
	if diags.HasErrors() {
		return nil, file, diags
	}
	return pool, file, diags
}

var missingBlockDetail = map[string]string{
	"pool":    `A pool definition starts with a pool block naming the pool, for example: pool "scryptpool" { datacenter = "home" }.`,
	"cluster": "A cluster block describes the nodes the pool runs on (servers, nodes, node_cpu_mhz, node_memory_mb), so that poolctl can check the jobs fit.",
	"coin":    `At least one coin block is required, for example: coin "ltc" { network = "mainnet" stratum { port = 3333 } }.`,
}

package config

import (
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxFileBytes bounds what Load reads: a pool definition is a few kilobytes,
// and anything far larger is a mistake (a chain file, a disk image).
const MaxFileBytes = 256 << 10

// maxNesting bounds how deep brackets, braces and parentheses may nest.
// The HCL parser recurses once per level, and a few tens of thousands of
// levels overflow the stack (a fatal error, not a panic); a pool
// definition nests three or four deep.
const maxNesting = 64

var topSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "pool", LabelNames: []string{"name"}},
		{Type: "cluster"},
		{Type: "coin", LabelNames: []string{"name"}},
		{Type: "database"},
		{Type: "housekeeping"},
		{Type: "web"},
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
	if pool == nil {
		return nil, files, diags
	}
	// Decoding problems (a wrong type, an unknown attribute) leave the
	// attribute at its default; the rules still run so that every problem
	// is reported at once, but skip the attributes decoding already blamed
	// rather than judge the default that stands in for them.
	diags = append(diags, check(pool, badAttributes(file, diags))...)
	if diags.HasErrors() {
		return nil, files, diags
	}
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
	if !info.Mode().IsRegular() {
		// A FIFO or device would block or never end.
		return nil, fmt.Errorf("%s is not a regular file", path)
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
// semantic rules are in Check. It never panics, whatever src holds. The
// pool is nil when the text cannot be read as a definition at all (not
// text, syntax errors, a required block missing); otherwise it is returned
// even with decoding errors, with defaults where values were unusable.
func Parse(src []byte, filename string) (*Pool, *hcl.File, hcl.Diagnostics) {
	if d := notText(src, filename); d != nil {
		return nil, nil, hcl.Diagnostics{d}
	}
	if d := tooDeep(src, filename); d != nil {
		return nil, nil, hcl.Diagnostics{d}
	}
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
		Web:          newWeb(),
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
		case "web":
			diags = append(diags, gohcl.DecodeBody(block.Body, nil, pool.Web)...)
		}
	}
	complete := seen["pool"] != nil && seen["cluster"] != nil && len(pool.Coins) > 0
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
	// The web servers' port is static: a cluster smaller than the default
	// instance count runs one per node, unless instances says otherwise.
	if w := pool.Web; !written(w.Body, "instances") && pool.Cluster.Nodes >= 1 && pool.Cluster.Nodes < w.Instances {
		w.Instances = pool.Cluster.Nodes
	}
	if !complete {
		return nil, file, diags
	}
	return pool, file, diags
}

// notText rejects what is not a text file before the parser sees it: one
// clear diagnostic instead of hundreds, and no control characters echoed
// to the terminal in snippets.
func notText(src []byte, filename string) *hcl.Diagnostic {
	pos := hcl.InitialPos
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		bad := ""
		switch {
		case r == utf8.RuneError && size <= 1:
			bad = fmt.Sprintf("byte 0x%02x is not UTF-8", src[i])
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f:
			bad = fmt.Sprintf("control character 0x%02x", r)
		}
		if bad != "" {
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Not a text file",
				Detail:   fmt.Sprintf("A pool definition is UTF-8 text; %s found at byte offset %d. Is this the right file?", bad, i),
				Subject:  &hcl.Range{Filename: filename, Start: pos, End: pos},
			}
		}
		if r == '\n' {
			pos.Line++
			pos.Column = 1
		} else {
			pos.Column++
		}
		pos.Byte += size
		i += size
	}
	return nil
}

var missingBlockDetail = map[string]string{
	"pool":    `A pool definition starts with a pool block naming the pool, for example: pool "scryptpool" { datacenter = "home" }.`,
	"cluster": "A cluster block describes the nodes the pool runs on (servers, nodes, node_cpu_mhz, node_memory_mb), so that poolctl can check the jobs fit.",
	"coin":    `At least one coin block is required, for example: coin "ltc" { network = "mainnet" stratum { port = 3333 } }.`,
}

// badAttributes finds the attributes that diagnostics point into.
func badAttributes(file *hcl.File, diags hcl.Diagnostics) map[*hclsyntax.Attribute]bool {
	bad := map[*hclsyntax.Attribute]bool{}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return bad
	}
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, a := range b.Attributes {
			for _, d := range diags {
				if d.Subject != nil && a.SrcRange.ContainsPos(d.Subject.Start) {
					bad[a] = true
				}
			}
		}
		for _, blk := range b.Blocks {
			walk(blk.Body)
		}
	}
	walk(body)
	return bad
}

// tooDeep rejects nesting deeper than maxNesting before the parser sees it.
// It counts every bracket, brace and parenthesis, also inside strings: a
// real pool definition never comes close, and being strict is safe.
func tooDeep(src []byte, filename string) *hcl.Diagnostic {
	depth := 0
	pos := hcl.InitialPos
	for i, b := range src {
		switch b {
		case '[', '{', '(':
			depth++
			if depth > maxNesting {
				return &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Nested too deeply",
					Detail:   fmt.Sprintf("Brackets, braces and parentheses nest more than %d deep at byte offset %d; a pool definition needs a handful.", maxNesting, i),
					Subject:  &hcl.Range{Filename: filename, Start: pos, End: pos},
				}
			}
		case ']', '}', ')':
			depth--
		case '\n':
			pos.Line++
			pos.Column = 0
		}
		pos.Column++
		pos.Byte++
	}
	return nil
}

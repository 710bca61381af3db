package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
)

const minimal = `
pool "p" {}
cluster {
  servers = 1
  nodes = 1
  node_cpu_mhz = 4000
  node_memory_mb = 4096
}
coin "ltc" {
  network = "regtest"
  stratum { port = 3333 }
}
`

func TestDefaults(t *testing.T) {
	p, _, diags := config.Parse([]byte(minimal), "pool.hcl")
	require.False(t, diags.HasErrors(), diags.Error())
	assert.Equal(t, "dc1", p.Settings.Datacenter)
	assert.Equal(t, "/usr/local/bin/poolctl", p.Settings.Poolctl)
	assert.Equal(t, 1, p.Cluster.TolerateNodeFailures)
	require.Len(t, p.Coins, 1)
	c := p.Coins[0]
	assert.Equal(t, "litecoin", c.Chain)
	assert.Equal(t, "/usr/lib/litecoin/litecoind", c.Wallet.Command)
	assert.Equal(t, "ltc-chain", c.Wallet.Volume)
	assert.Equal(t, 2, c.Wallet.Instances)
	assert.Equal(t, "pplns", c.Payout.Scheme)
	assert.Equal(t, 100, c.Payout.Confirmations)
	assert.Equal(t, "pool-data", p.Database.Volume)
}

func TestExplicitZeroIsNotTheDefault(t *testing.T) {
	src := minimal + `coin "doge" {
  network = "regtest"
  wallet { instances = 0 }
  stratum { port = 3334 }
}`
	p, _, diags := config.Parse([]byte(src), "pool.hcl")
	require.False(t, diags.HasErrors())
	assert.Equal(t, 0, p.Coins[1].Wallet.Instances)
	found := false
	for _, d := range config.Check(p) {
		if d.Summary == "Value out of range" && d.Subject.Start.Line == 15 && d.Subject.Start.Column == 24 {
			found = true
		}
	}
	assert.True(t, found, "instances = 0 must be reported where it is written")
}

func TestNotTextIsOneDiagnostic(t *testing.T) {
	for name, src := range map[string][]byte{
		"nul byte":      []byte("pool \"p\" {}\x00"),
		"invalid utf-8": {0xff, 0xfe, 'a'},
		"escape codes":  []byte("pool \"p\" {}\n\x1b[31m"),
	} {
		t.Run(name, func(t *testing.T) {
			p, _, diags := config.Parse(src, "x.hcl")
			assert.Nil(t, p)
			require.Len(t, diags, 1)
			assert.Equal(t, "Not a text file", diags[0].Summary)
		})
	}
}

// The parser recurses per nesting level; a deep enough file would
// overflow the stack, which no recover can catch.
func TestDeepNestingIsRejectedBeforeParsing(t *testing.T) {
	src := []byte("pool \"p\" { datacenter = " + strings.Repeat("[", 100_000) + " }")
	p, _, diags := config.Parse(src, "deep.hcl")
	assert.Nil(t, p)
	require.Len(t, diags, 1)
	assert.Equal(t, "Nested too deeply", diags[0].Summary)
}

// FuzzParse feeds arbitrary bytes through decoding and every rule: none of
// it may panic, and whatever is rejected is rejected with a located
// diagnostic. The seeds are the test fixtures and examples.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../validate/testdata/*/*.hcl")
	seeds = append(seeds, "../../../examples/dev/pool.hcl", "../../../examples/home-12pi/pool.hcl")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p, _, diags := config.Parse(src, "fuzz.hcl")
		for _, d := range diags {
			if d.Subject == nil {
				t.Fatalf("diagnostic without a location: %s", d.Summary)
			}
		}
		if p != nil {
			for _, d := range config.Check(p) {
				if d.Subject == nil {
					t.Fatalf("rule diagnostic without a location: %s", d.Summary)
				}
			}
		}
	})
}

// The web servers' default instance count is two, one per node on a
// smaller cluster (their port is static); written, it is kept and checked.
func TestWebInstancesFollowTheCluster(t *testing.T) {
	for _, tc := range []struct {
		name, nodes, web string
		want             int
		warning          bool
	}{
		{"one node, default", "1", "", 1, false},
		{"three nodes, default", "3", "", 2, false},
		{"three nodes, written", "3", "web {\n  instances = 3\n}\n", 3, false},
		{"three nodes, one written", "3", "web {\n  instances = 1\n}\n", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(minimal, "nodes = 1", "nodes = "+tc.nodes, 1) + tc.web
			p, _, diags := config.Parse([]byte(src), "pool.hcl")
			require.False(t, diags.HasErrors(), diags.Error())
			assert.Equal(t, tc.want, p.Web.Instances)
			assert.Equal(t, 8080, p.Web.Port)
			warned := false
			for _, d := range config.Check(p) {
				warned = warned || d.Summary == "Single web instance"
			}
			assert.Equal(t, tc.warning, warned)
		})
	}
}

// The web servers' port may not be an agent's.
func TestWebPortNotReserved(t *testing.T) {
	p, _, diags := config.Parse([]byte(minimal+"web {\n  port = 8500\n}\n"), "pool.hcl")
	require.False(t, diags.HasErrors(), diags.Error())
	var reserved []*hcl.Diagnostic
	for _, d := range config.Check(p) {
		if d.Summary == "Port reserved" {
			reserved = append(reserved, d)
		}
	}
	require.Len(t, reserved, 1)
	assert.Equal(t, "Port 8500 is used by Consul HTTP on every node.", reserved[0].Detail)
	assert.Equal(t, hcl.Pos{Line: 14, Column: 10, Byte: reserved[0].Subject.Start.Byte}, reserved[0].Subject.Start, "the diagnostic points at the value")
}

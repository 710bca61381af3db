package cluster

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The production shape's agent configurations, for the Pis' settings and
// for the defaults, against golden files (go test -update rewrites them).
func TestProductionConfigs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		defaults bool
	}{{"pis", false}, {"defaults", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cluster{StateDir: "/state", Datacenter: "dc1", Region: "global", Production: true, DefaultAgentSettings: tc.defaults}
			for i := range 4 {
				n := Node{
					Name: fmt.Sprintf("pi-%d", i+1), IP: fmt.Sprintf("198.18.9.%d", i+1), Interface: fmt.Sprintf("pcl9n%d", i),
					Server: i < 3, Client: &Client{Name: fmt.Sprintf("pi-%d", i+1)}, Dir: fmt.Sprintf("/state/pi-%d", i+1),
				}
				c.Nodes = append(c.Nodes, n)
			}
			for _, n := range []Node{c.Nodes[0], c.Nodes[3]} {
				for _, f := range []struct {
					kind string
					got  []byte
				}{{"consul", consulConfig(n, c, c.consulServer(&n))}, {"nomad", withoutChroot(nomadConfig(n, c))}} {
					golden := filepath.Join("testdata", "production-"+tc.name, n.Name+"-"+f.kind+".hcl")
					if *update {
						require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
						require.NoError(t, os.WriteFile(golden, f.got, 0o644))
					}
					want, err := os.ReadFile(golden)
					require.NoError(t, err, "run go test -update")
					require.Equal(t, string(want), string(f.got), golden)
				}
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// withoutChroot drops the chroot_env block, which lists what this
// machine's packages installed (ChrootEnv has tests of its own).
func withoutChroot(config []byte) []byte {
	var out []string
	skipping := false
	for _, line := range strings.Split(string(config), "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "chroot_env = {"):
			skipping = true
			out = append(out, line, "    (this machine's)")
		case skipping && strings.TrimSpace(line) == "}":
			skipping = false
			out = append(out, line)
		case !skipping:
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, "\n"))
}

package provision

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
	"github.com/scryptpool/poolmicrocloud/tools/internal/validate"
)

// testNode is one debootstrapped root standing for a Pi.
type testNode struct {
	name    string
	server  bool
	addr    string
	iface   string
	root    string
	volumes []string // "name:owner"
	fakePi  bool
}

// testCluster is the roots, the inventory and the secrets of a test.
type testCluster struct {
	addrs     *cluster.Addresses
	dir       string
	nodes     []*testNode
	inventory string
	secrets   string
	nomad     string
	consul    string
	poolctl   string
	extra     map[string]string // more vars for every host
}

// provNodes is how many node addresses a test cluster claims: the five of
// the converged cluster and one that add-node.yml adds.
const provNodes = 6

// nodeAddr is node-0i's address (i from 1), and nodeIface the interface
// that holds it and nothing else. Each node has an address of its own on
// an interface of its own, as a Pi does: Nomad gives tasks the addresses of
// its network_interface, and nodes sharing one (loopback) would share
// their ports too.
func (c *testCluster) nodeAddr(i int) string  { return c.addrs.IP(i - 1) }
func (c *testCluster) nodeIface(i int) string { return c.addrs.Interface(i - 1) }

// floatingAddr is the pool's floating address: the last address of the
// cluster's /24, which no node holds (nodes take them from the first, and
// the slot, with its whole /24, is this cluster's alone). It sits on no
// interface: keepalived does not run in the test's shared network
// namespace.
func (c *testCluster) floatingAddr() string {
	lan := netip.MustParsePrefix(c.addrs.LAN())
	a := lan.Masked().Addr().As4()
	a[3] = 254
	return netip.AddrFrom4(a).String()
}

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	testenv.Integration(t)
	for _, tool := range []struct{ name, pkg string }{
		{"ansible-playbook", "ansible"}, {"debootstrap", "debootstrap"}, {"unshare", "util-linux"}, {"openssl", "openssl"},
	} {
		needTool(t, tool.name, tool.pkg)
	}
	dir, err := os.MkdirTemp("", "poolprov-")
	require.NoError(t, err)
	t.Cleanup(func() {
		// Agents are stopped by their own cleanups first (registered
		// later, run earlier); only then is it safe to remove the roots.
		endLeftovers(t, dir)
		if !mounted(dir) {
			_ = os.RemoveAll(dir)
		} else {
			t.Errorf("something is still mounted under %s; left in place", dir)
		}
	})
	addrs, err := cluster.ClaimAddresses(provNodes, filepath.Base(dir))
	require.NoError(t, err)
	// Registered before the agents start, so it runs after they stop.
	t.Cleanup(addrs.Release)
	c := &testCluster{
		addrs:   addrs,
		dir:     dir,
		secrets: filepath.Join(dir, "secrets"),
		nomad:   testenv.Tool(t, binaries.Nomad),
		consul:  testenv.Tool(t, binaries.Consul),
		poolctl: testenv.Poolctl(t),
		extra:   map[string]string{},
	}
	return c
}

// endLeftovers ends the processes still running inside the test's roots
// once the agents are stopped: Nomad's executors and tasks outlive a
// stopped client agent (one task of a job that had been stopped was seen
// still running after a test). Only processes whose root directory is
// under dir are touched: this test started them.
func endLeftovers(t *testing.T, dir string) {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		var left []int
		for _, p := range procs {
			root, err := os.Readlink(filepath.Join(p, "root"))
			if err != nil || !strings.HasPrefix(root, dir+"/") {
				continue
			}
			pid, err := strconv.Atoi(filepath.Base(p))
			if err != nil {
				continue
			}
			if attempt == 0 {
				cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
				t.Logf("ending pid %d left running in %s: %s", pid, root, strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			left = append(left, pid)
		}
		if len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond) // a killed process leaves /proc only once reaped
	}
	t.Errorf("processes left running in %s could not be ended", dir)
}

func mounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && strings.Contains(string(data), dir)
}

// addNode extracts a root for a new node.
func (c *testCluster) addNode(t *testing.T, tarball string, n *testNode) {
	t.Helper()
	n.root = newRoot(t, tarball, filepath.Join(c.dir, n.name))
	for _, v := range n.volumes {
		// The storage the volumes need, as the operator would mount it.
		storage := map[string]string{"ltc-chain": "mnt/usb", "pool-data": "mnt/ssd"}[strings.Split(v, ":")[0]]
		require.NoError(t, os.MkdirAll(filepath.Join(n.root, storage), 0o755))
	}
	if n.fakePi {
		// Not a Pi: a fake firmware command line, and what the kernel
		// says about cgroups after the reboot that cannot happen in a
		// chroot.
		fake, err := os.ReadFile(filepath.Join("testdata", "fake-pi-cmdline.txt"))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(n.root, "boot/firmware"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(n.root, "boot/firmware/cmdline.txt"), fake, 0o755))
		cgroups, err := os.ReadFile("/proc/cgroups")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(n.root, "fake-proc-cgroups"), cgroups, 0o644))
	}
	c.nodes = append(c.nodes, n)
	c.writeInventory(t)
}

func (c *testCluster) writeInventory(t *testing.T) {
	t.Helper()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("all:\n  vars:\n")
	vars := map[string]string{
		"ansible_connection":        "community.general.chroot",
		"pool_name":                 `"scryptpool"`,
		"pool_datacenter":           `"home"`,
		"pool_region":               `"global"`,
		"pool_poolctl_path":         `"/usr/local/bin/poolctl"`,
		"pool_lan":                  fmt.Sprintf("[%q]", c.addrs.LAN()),
		"pool_stratum_ports":        `[3333]`,
		"pool_secrets_dir":          strconv.Quote(c.secrets),
		"consul_source":             strconv.Quote(c.consul),
		"nomad_source":              strconv.Quote(c.nomad),
		"pool_poolctl_source":       strconv.Quote(c.poolctl),
		"base_admin_ssh_keys":       `["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeTestKeyOfTheProvisionTestsOnly000000 test"]`,
		"base_apt_cache_valid_time": "31536000",
		"acl_wait_retries":          "60",
		// As poolctl inventory writes them for a pool with a floating
		// address.
		"pool_floating_address":          strconv.Quote(c.floatingAddr()),
		"pool_floating_address_prefix":   strconv.Itoa(netip.MustParsePrefix(c.addrs.LAN()).Bits()),
		"pool_floating_address_services": fmt.Sprintf("[%q]", contract.StratumService("ltc")),
	}
	for k, v := range c.extra {
		vars[k] = v
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w("    %s: %s\n", k, vars[k])
	}
	w("  children:\n    servers:\n      hosts:\n")
	for _, n := range c.nodes {
		if n.server {
			w("        %s: {}\n", n.name)
		}
	}
	w("    clients:\n      hosts:\n")
	for _, n := range c.nodes {
		w("        %s:\n", n.name)
		w("          ansible_host: %q\n", n.root)
		w("          pool_node_address: %q\n", n.addr)
		w("          nomad_client_network_interface: %q\n", n.iface)
		// Facts gathered in a chroot hold no interfaces (no /sys there), so
		// the role's default cannot find the one holding the node's address.
		w("          floating_address_interface: %q\n", n.iface)
		w("          consul_client_addresses: [%q]\n", n.addr)
		// A cgroup of this test's own per node: two test runs on one machine
		// must not share (or clean up) each other's.
		w("          nomad_client_cgroup_parent: %q\n", "/"+filepath.Base(c.dir)+"-"+n.name)
		if n.fakePi {
			w("          raspberrypi_cgroups_file: /fake-proc-cgroups\n")
		}
		var vols []string
		for _, v := range n.volumes {
			p := strings.Split(v, ":")
			vols = append(vols, fmt.Sprintf("{name: %q, owner: %q}", p[0], p[1]))
		}
		w("          nomad_client_host_volumes: [%s]\n", strings.Join(vols, ", "))
	}
	c.inventory = filepath.Join(c.dir, "hosts.yml")
	// The pool's policies beside the inventory, where the acl role looks for
	// them, as `poolctl policies -o <inventory>/policies` writes them.
	r := validate.File(filepath.Join(repoRoot(t), "examples", "home-12pi", "pool.hcl"))
	require.True(t, r.OK())
	require.NoError(t, os.MkdirAll(filepath.Join(c.dir, "policies"), 0o755))
	for name, src := range contract.FromConfig(r.Pool).PolicyFiles() {
		require.NoError(t, os.WriteFile(filepath.Join(c.dir, "policies", name), src, 0o644))
	}
	require.NoError(t, os.WriteFile(c.inventory, []byte(b.String()), 0o644))
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// recap is PLAY RECAP: host -> its counts.
type recap map[string]hostRecap

type hostRecap struct{ changed, failed int }

// parseRecap reads every host's line of the PLAY RECAP in out.
func parseRecap(out string) recap {
	r := recap{}
	for _, m := range recapLine.FindAllStringSubmatch(out, -1) {
		changed, _ := strconv.Atoi(m[3])
		failed, _ := strconv.Atoi(m[5])
		r[m[1]] = hostRecap{changed: changed, failed: failed}
	}
	return r
}

// changedHosts is what the run changed on each host that it changed
// anything on.
func (r recap) changedHosts() map[string]int {
	out := map[string]int{}
	for host, h := range r {
		if h.changed > 0 {
			out[host] = h.changed
		}
	}
	return out
}

// playbook runs a playbook against the test inventory and returns its
// output and recap; it fails the test when the playbook fails.
func (c *testCluster) playbook(t *testing.T, name string, args ...string) (string, recap) {
	t.Helper()
	out, err := c.tryPlaybook(t, name, args...)
	require.NoError(t, err, "ansible-playbook %s:\n%s", name, out)
	r := parseRecap(out)
	require.NotEmpty(t, r, "no PLAY RECAP in:\n%s", out)
	for host, h := range r {
		require.Zero(t, h.failed, "%s failed on %s:\n%s", name, host, out)
	}
	return out, r
}

func (c *testCluster) tryPlaybook(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := execCommand("ansible-playbook", append([]string{"-i", c.inventory, "--forks", "8", name}, args...)...)
	cmd.Dir = ansibleDir(t)
	cmd.Env = append(os.Environ(), ansibleEnv(t)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// keepalivedUser is the user keepalived runs the floating address's health
// check as (floating_address_script_user).
const keepalivedUser = "keepalived_script"

var (
	keepalivedScript    = regexp.MustCompile(`(?m)^\s*script "([^"]*)"\s*$`)
	keepalivedPeers     = regexp.MustCompile(`(?s)\bunicast_peer \{([^}]*)\}`)
	keepalivedVirtual   = regexp.MustCompile(`(?s)\bvirtual_ipaddress \{([^}]*)\}`)
	keepalivedTemplVars = regexp.MustCompile(`(?s)Rendered from these variables only: (.*?)\.\n`)
)

// The floating address's keepalived.conf renders from the variables its
// header lists and no others (another test renders it standalone, with
// those), into one instance that names the other nodes as unicast peers
// and runs the health check on the services named.
func TestKeepalivedTemplateRendersStandalone(t *testing.T) {
	needTool(t, "ansible", "ansible")
	template := filepath.Join(ansibleDir(t), "roles", "floating_address", "templates", "keepalived.conf.j2")
	vars := map[string]any{
		"pool_floating_address":           "192.168.1.250",
		"pool_floating_address_prefix":    24,
		"pool_floating_address_services":  []string{contract.StratumService("ltc"), contract.StratumService("doge")},
		"pool_node_address":               "192.168.1.11",
		"pool_poolctl_path":               "/usr/local/bin/poolctl",
		"floating_address_interface":      "eth0",
		"floating_address_router_id":      51,
		"floating_address_peers":          []string{"192.168.1.12", "192.168.1.13"},
		"floating_address_script_user":    keepalivedUser,
		"floating_address_check_interval": 2,
		"floating_address_check_timeout":  5,
		"floating_address_check_fall":     2,
		"floating_address_check_rise":     2,
		"floating_address_consul_address": "https://192.168.1.11:8501",
		"floating_address_consul_ca_file": "/etc/ssl/pool/ca.pem",
		"floating_address_token_file":     "/etc/keepalived/consul.token",
	}
	src, err := os.ReadFile(template)
	require.NoError(t, err)
	m := keepalivedTemplVars.FindSubmatch(src)
	require.NotNil(t, m, "the template's header does not list its variables")
	var listed []string
	for _, v := range strings.Split(strings.NewReplacer("#", " ", "\n", " ").Replace(string(m[1])), ",") {
		listed = append(listed, strings.TrimSpace(v))
	}
	var keys []string
	for k := range vars {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, keys, listed, "the variables the template's header lists")

	conf := testenv.RenderKeepalivedConf(t, vars)

	require.Equal(t, []string{"/usr/local/bin/poolctl", "floating-check",
		"--consul-address", "https://192.168.1.11:8501", "--consul-ca-cert", "/etc/ssl/pool/ca.pem",
		"--consul-token-file", "/etc/keepalived/consul.token",
		"--service", contract.StratumService("ltc"), "--service", contract.StratumService("doge")}, scriptArgv(t, conf))
	require.Equal(t, []string{"192.168.1.12", "192.168.1.13"}, blockFields(t, keepalivedPeers, conf))
	require.Equal(t, []string{"192.168.1.250/24", "dev", "eth0"}, blockFields(t, keepalivedVirtual, conf))
	for _, line := range []string{
		"enable_script_security", "script_user keepalived_script", "state BACKUP", "nopreempt", "priority 100",
		"interface eth0", "virtual_router_id 51", "advert_int 1", "unicast_src_ip 192.168.1.11",
		"interval 2", "timeout 5", "fall 2", "rise 2",
	} {
		require.Regexp(t, `(?m)^\s*`+regexp.QuoteMeta(line)+`$`, conf)
	}
	require.Equal(t, 1, strings.Count(conf, "vrrp_instance "), "one VRRP instance")
	require.Regexp(t, `(?s)track_script \{\s*stratum_healthy\s*\}`, conf)
	require.Regexp(t, `(?m)^vrrp_script stratum_healthy \{$`, conf)
}

// scriptArgv is the health check's command line in a keepalived.conf.
func scriptArgv(t *testing.T, conf string) []string {
	t.Helper()
	m := keepalivedScript.FindAllStringSubmatch(conf, -1)
	require.Len(t, m, 1, "one script in:\n%s", conf)
	return strings.Fields(m[0][1])
}

// blockFields is what a block of a keepalived.conf holds, word by word.
func blockFields(t *testing.T, block *regexp.Regexp, conf string) []string {
	t.Helper()
	m := block.FindAllStringSubmatch(conf, -1)
	require.Len(t, m, 1, "one %s in:\n%s", block, conf)
	return strings.Fields(m[0][1])
}

// checkKeepalived checks, on every converged node, what the floating_address
// role wrote: a configuration the node's own keepalived accepts, with the
// node's address and interface, the other nodes as unicast peers, the check
// on this node's Consul; the check's user with no shell and no home; its
// token readable by root and that user only. keepalived is not started:
// VRRP cannot run in the test's shared network namespace.
func checkKeepalived(t *testing.T, c *testCluster) {
	var tokens []string
	for _, n := range c.nodes {
		t.Run(n.name, func(t *testing.T) {
			conf := readKeepalivedConf(t, n)
			keepalivedConfigTest(t, n)

			var peers []string
			for _, o := range c.nodes {
				if o != n {
					peers = append(peers, o.addr)
				}
			}
			got := blockFields(t, keepalivedPeers, conf)
			require.ElementsMatch(t, peers, got, "%s's unicast peers", n.name)
			require.NotContains(t, got, n.addr, "%s is its own peer", n.name)
			require.Regexp(t, `(?m)^\s*unicast_src_ip `+regexp.QuoteMeta(n.addr)+`$`, conf)
			require.Regexp(t, `(?m)^\s*interface `+regexp.QuoteMeta(n.iface)+`$`, conf)
			require.Equal(t, []string{c.floatingAddr() + "/24", "dev", n.iface}, blockFields(t, keepalivedVirtual, conf))
			argv := scriptArgv(t, conf)
			require.Equal(t, []string{"/usr/local/bin/poolctl", "floating-check",
				"--consul-address", "https://" + n.addr + ":8501", "--consul-ca-cert", "/etc/ssl/pool/ca.pem",
				"--consul-token-file", "/etc/keepalived/consul.token", "--service", contract.StratumService("ltc")}, argv)

			user := lookupUser(t, n, keepalivedUser)
			require.Equal(t, "/usr/sbin/nologin", user.shell, "the check's user has no shell")
			require.NoDirExists(t, filepath.Join(n.root, user.home), "the check's user has no home")
			path := filepath.Join(n.root, "etc/keepalived/consul.token")
			st, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o640), st.Mode().Perm(), path)
			sys := st.Sys().(*syscall.Stat_t)
			require.Equal(t, uint32(0), sys.Uid, "%s is root's", path)
			require.Equal(t, user.gid, int(sys.Gid), "%s's group is %s", path, keepalivedUser)
			token, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Regexp(t, `^[0-9a-f-]{36}\n$`, string(token))
			tokens = append(tokens, string(token))
		})
	}
	slices.Sort(tokens)
	require.Len(t, slices.Compact(tokens), 1, "one floating-address token on every node")
}

func readKeepalivedConf(t *testing.T, n *testNode) string {
	t.Helper()
	path := filepath.Join(n.root, "etc/keepalived/keepalived.conf")
	st, err := os.Stat(path)
	require.NoError(t, err, "%s has no keepalived configuration", n.name)
	require.Equal(t, os.FileMode(0o640), st.Mode().Perm(), path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// keepalivedConfigTest runs the node's keepalived --config-test on its
// configuration, in its root. keepalived 2.2.7 ends that test with SIGTERM
// whatever it found when a script has a user (fixed in 2.2.8), so what
// tells an error is that it printed one.
func keepalivedConfigTest(t *testing.T, n *testNode) {
	t.Helper()
	out, err := exec.Command("chroot", n.root, "/usr/sbin/keepalived", "--config-test", "--use-file=/etc/keepalived/keepalived.conf").CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ws := exit.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGTERM, "keepalived --config-test on %s: %v\n%s", n.name, err, out)
	} else {
		require.NoError(t, err)
	}
	require.Empty(t, string(out), "keepalived --config-test on %s found problems", n.name)
}

// rootUser is a user of a node's root, from its /etc/passwd.
type rootUser struct {
	uid, gid    int
	home, shell string
}

func lookupUser(t *testing.T, n *testNode, name string) rootUser {
	t.Helper()
	f, err := os.Open(filepath.Join(n.root, "etc/passwd"))
	require.NoError(t, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		p := strings.Split(s.Text(), ":")
		if len(p) != 7 || p[0] != name {
			continue
		}
		var u rootUser
		_, err := fmt.Sscan(p[2], &u.uid)
		require.NoError(t, err)
		_, err = fmt.Sscan(p[3], &u.gid)
		require.NoError(t, err)
		u.home, u.shell = p[5], p[6]
		return u
	}
	require.NoError(t, s.Err())
	require.FailNow(t, fmt.Sprintf("%s has no user %s", n.name, name))
	return rootUser{}
}

// floatingCheck runs argv (a node's health check) in the node's root as the
// check's user, as keepalived would: its exit code and what it wrote on
// stderr.
func floatingCheck(t *testing.T, n *testNode, argv []string) (int, string) {
	t.Helper()
	u := lookupUser(t, n, keepalivedUser)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chroot", append([]string{fmt.Sprintf("--userspec=%d:%d", u.uid, u.gid), fmt.Sprintf("--groups=%d", u.gid), n.root}, argv...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "the check on %s did not end within its timeout", n.name)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stderr.String()
	}
	require.NoError(t, err, "run the check on %s", n.name)
	return 0, stderr.String()
}

// passingNodes are the nodes where an instance of service is passing.
func passingNodes(t *testing.T, consul *consulapi.Client, service string, want int) []string {
	t.Helper()
	var nodes []string
	waitFor(t, 5*time.Minute, fmt.Sprintf("%d passing instances of %s", want, service), func() bool {
		entries, _, err := consul.Health().Service(service, "", true, nil)
		if err != nil || len(entries) != want {
			return false
		}
		nodes = nil
		for _, e := range entries {
			nodes = append(nodes, e.Node.Node)
		}
		return true
	})
	sort.Strings(nodes)
	return nodes
}

// checkFloatingCheck runs each node's health check as keepalived would,
// with the pool deployed (two stratum servers on two nodes): it passes on
// exactly the nodes running a passing stratum server, fails with one line
// on the others, and its token reads the stratum servers only.
func checkFloatingCheck(t *testing.T, c *testCluster, consul *consulapi.Client) {
	policy := filepath.Join(c.dir, "policies", "consul-floating-address.hcl")
	require.FileExists(t, policy, "the pool's policies have no floating-address policy (poolctl policies writes it for a pool with a floating address), so acl.yml made no token for the check")
	stratum := passingNodes(t, consul, contract.StratumService("ltc"), 2)
	wallets := passingNodes(t, consul, contract.WalletService("ltc"), 2)
	t.Logf("stratum servers on %v, wallets on %v", stratum, wallets)
	for _, n := range c.nodes {
		argv := scriptArgv(t, readKeepalivedConf(t, n))
		code, stderr := floatingCheck(t, n, argv)
		if slices.Contains(stratum, n.name) {
			require.Equal(t, 0, code, "the check fails on %s, which runs a passing stratum server:\n%s", n.name, stderr)
			continue
		}
		require.Equal(t, 1, code, "the check on %s, which runs no stratum server:\n%s", n.name, stderr)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		require.Len(t, lines, 1, "the check on %s says why in one line:\n%s", n.name, stderr)
		require.NotEmpty(t, lines[0], "the check on %s failed without a word", n.name)
		require.NotContains(t, strings.ToLower(stderr), "permission denied", "the check's token is refused on %s", n.name)
	}

	// Least privilege: on a node where a wallet's instance runs and passes,
	// the check's token does not see it. (The agent leaves out of its
	// answers what a token may not read, so the check cannot tell a refusal
	// from an absence; that the instance is there is what shows the token
	// is refused.)
	var walletNode *testNode
	for _, n := range c.nodes {
		if slices.Contains(wallets, n.name) {
			walletNode = n
		}
	}
	require.NotNil(t, walletNode)
	argv := scriptArgv(t, readKeepalivedConf(t, walletNode))
	i := slices.Index(argv, "--service")
	require.GreaterOrEqual(t, i, 0)
	wallet := contract.WalletService("ltc")
	argv = append(slices.Clone(argv[:i]), "--service", wallet)
	code, stderr := floatingCheck(t, walletNode, argv)
	require.Equal(t, 1, code, "the check's token reads %s on %s, where it runs:\n%s", wallet, walletNode.name, stderr)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Len(t, lines, 1, "the check on %s says why in one line:\n%s", walletNode.name, stderr)
	require.Contains(t, lines[0], wallet, "the check on %s does not name the service it may not read", walletNode.name)
}

// The floating address goes on the interface that holds the node's
// address (found in the gathered facts), else on the default route's. The
// converge test cannot see this (facts gathered in a chroot hold no
// interfaces); this machine's loopback and default route can.
func TestKeepalivedInterfaceDefault(t *testing.T) {
	playbook := needTool(t, "ansible-playbook", "ansible")
	dir := t.TempDir()
	defaults := filepath.Join(ansibleDir(t), "roles", "floating_address", "defaults", "main.yml")
	play := fmt.Sprintf(`- hosts: localhost
  connection: local
  gather_facts: true
  gather_subset: [network]
  vars_files: [%q]
  tasks:
    - ansible.builtin.debug:
        msg: "interface=[{{ floating_address_interface }}]"
`, defaults)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "play.yml"), []byte(play), 0o644))
	iface := func(addr string) string {
		out := run(t, dir, ansibleEnv(t), playbook, "-i", "localhost,", "play.yml", "-e", "pool_node_address="+addr)
		m := regexp.MustCompile(`interface=\[([^\]]*)\]`).FindStringSubmatch(out)
		require.NotNil(t, m, out)
		return m[1]
	}
	require.Equal(t, "lo", iface("127.0.0.1"), "the interface holding the node's address")
	require.Equal(t, defaultRouteInterface(t), iface("192.0.2.1"), "no interface holds the address: the default route's")
}

// defaultRouteInterface is the interface of this machine's IPv4 default
// route ("eth0" when it has none, as the role assumes).
func defaultRouteInterface(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/net/route")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" {
			return f[0]
		}
	}
	return "eth0"
}

package provision

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// renderedAgent is what the consul, nomad and base roles write for one node:
// the agents' configurations and units, and chrony-wait's drop-in.
type renderedAgent struct {
	nomad, consul         *hclsyntax.Body
	nomadFile, consulFile string
	nomadUnit, consulUnit string
	chronyWait            string
}

// renderAgentFiles renders the roles' templates, with their defaults, for
// an inventory of three servers (that are clients too) and one client, as
// the playbooks would on each node; no node is touched.
func renderAgentFiles(t *testing.T) map[string]renderedAgent {
	t.Helper()
	playbook := needTool(t, "ansible-playbook", "ansible")
	dir := t.TempDir()
	roles := filepath.Join(ansibleDir(t), "roles")
	inv := `all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: auto_silent
  children:
    servers:
      hosts:
        node-01: {pool_node_address: 192.0.2.1}
        node-02: {pool_node_address: 192.0.2.2}
        node-03: {pool_node_address: 192.0.2.3}
    clients:
      hosts:
        node-01: {}
        node-02: {}
        node-03: {}
        node-04: {pool_node_address: 192.0.2.4}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hosts.yml"), []byte(inv), 0o644))
	var tasks strings.Builder
	for _, f := range []struct{ src, dest string }{
		{"nomad/templates/nomad.hcl.j2", "nomad.hcl"},
		{"nomad/templates/nomad.service.j2", "nomad.service"},
		{"consul/templates/consul.hcl.j2", "consul.hcl"},
		{"consul/templates/consul.service.j2", "consul.service"},
		{"base/templates/chrony-wait-pool.conf.j2", "chrony-wait.conf"},
	} {
		fmt.Fprintf(&tasks, "    - ansible.builtin.template:\n        src: %q\n        dest: \"%s/{{ inventory_hostname }}/%s\"\n        mode: \"0600\"\n",
			filepath.Join(roles, f.src), dir, f.dest)
	}
	play := fmt.Sprintf(`- hosts: all
  gather_facts: false
  vars_files: [%q, %q, %q]
  vars:
    pool_region: global
    pool_datacenter: home
    pool_secrets_dir: %q
    nomad_client_network_interface: eth0
    _nomad_gossip_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    _nomad_consul_token: "00000000-0000-0000-0000-000000000000"
    _nomad_chroot_env: []
    _consul_gossip_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    _consul_agent_token: "00000000-0000-0000-0000-000000000000"
  tasks:
    - ansible.builtin.file:
        path: "%s/{{ inventory_hostname }}"
        state: directory
        mode: "0700"
%s`, filepath.Join(roles, "nomad", "defaults", "main.yml"), filepath.Join(roles, "consul", "defaults", "main.yml"),
		filepath.Join(roles, "base", "defaults", "main.yml"), dir, dir, tasks.String())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "play.yml"), []byte(play), 0o644))
	run(t, dir, ansibleEnv(t), playbook, "-i", "hosts.yml", "play.yml")

	out := map[string]renderedAgent{}
	for _, node := range []string{"node-01", "node-02", "node-03", "node-04"} {
		read := func(name string) string {
			data, err := os.ReadFile(filepath.Join(dir, node, name))
			require.NoError(t, err)
			return string(data)
		}
		out[node] = renderedAgent{
			nomad:      parseHCL(t, filepath.Join(dir, node, "nomad.hcl")),
			consul:     parseHCL(t, filepath.Join(dir, node, "consul.hcl")),
			nomadFile:  filepath.Join(dir, node, "nomad.hcl"),
			consulFile: filepath.Join(dir, node, "consul.hcl"),
			nomadUnit:  read("nomad.service"),
			consulUnit: read("consul.service"),
			chronyWait: read("chrony-wait.conf"),
		}
	}
	return out
}

func parseHCL(t *testing.T, path string) *hclsyntax.Body {
	t.Helper()
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%s: %s", path, diags.Error())
	return f.Body.(*hclsyntax.Body)
}

// hclValue is the value of the attribute at path (block types, then the
// attribute's name) in body; cty.NilVal when a block or the attribute is
// missing. Blocks are taken by type, the first of each.
func hclValue(t *testing.T, body *hclsyntax.Body, path ...string) cty.Value {
	t.Helper()
	for _, name := range path[:len(path)-1] {
		var next *hclsyntax.Body
		for _, b := range body.Blocks {
			if b.Type == name {
				next = b.Body
				break
			}
		}
		if next == nil {
			return cty.NilVal
		}
		body = next
	}
	attr, ok := body.Attributes[path[len(path)-1]]
	if !ok {
		return cty.NilVal
	}
	v, diags := attr.Expr.Value(nil)
	require.False(t, diags.HasErrors(), "%v: %s", path, diags.Error())
	return v
}

func hasBlock(body *hclsyntax.Body, typ string) bool {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return true
		}
	}
	return false
}

// unitLine is the value of a unit file's key (the last one, as systemd
// reads it), "" when it has none.
func unitLine(unit, key string) string {
	m := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(key)+`=(.*)$`).FindAllStringSubmatch(unit, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// The agent settings a whole-cluster power cut needs (issue 16), as the
// roles write them with their defaults: servers stay in the Raft peer set
// on a signal and rejoin, every agent retries its joins forever, a node may
// be missing as long as a slow Pi takes to reboot before its work moves, a
// server slow to return keeps its vote (autopilot's min_quorum), and both
// agents start only once the clock is synced, or the bounded wait is over.
// Each would be missed here if it were removed from a template.
func TestAgentSettingsForPowerCuts(t *testing.T) {
	nodes := renderAgentFiles(t)
	str, num := cty.StringVal, func(n int64) cty.Value { return cty.NumberIntVal(n) }
	// The test cluster's production shape carries the same settings.
	pi := cluster.PiAgentSettings
	require.False(t, pi.ServersLeave)
	require.True(t, pi.RejoinAfterLeave)
	require.True(t, pi.AutopilotMinQuorum)
	same := func(t *testing.T, want, got cty.Value, what string) {
		t.Helper()
		require.NotEqual(t, cty.NilVal, got, "%s is not set", what)
		require.True(t, want.RawEquals(got), "%s: want %#v, got %#v", what, want, got)
	}

	for _, name := range []string{"node-01", "node-04"} {
		server := name != "node-04"
		n := nodes[name]
		t.Run(name+" nomad", func(t *testing.T) {
			// A server leaves on no signal; a client exits cleanly.
			same(t, cty.BoolVal(!server), hclValue(t, n.nomad, "leave_on_interrupt"), "leave_on_interrupt")
			same(t, cty.BoolVal(!server), hclValue(t, n.nomad, "leave_on_terminate"), "leave_on_terminate")
			// The client keeps every server in its list, answering or not.
			same(t, cty.TupleVal([]cty.Value{str("192.0.2.1:4647"), str("192.0.2.2:4647"), str("192.0.2.3:4647")}),
				hclValue(t, n.nomad, "client", "servers"), "client.servers")
			if !server {
				require.False(t, hasBlock(n.nomad, "server"), "a client has no server block")
				require.False(t, hasBlock(n.nomad, "autopilot"), "a client has no autopilot block")
				return
			}
			same(t, cty.True, hclValue(t, n.nomad, "server", "rejoin_after_leave"), "server.rejoin_after_leave")
			same(t, num(0), hclValue(t, n.nomad, "server", "server_join", "retry_max"), "server.server_join.retry_max")
			same(t, str(pi.RetryInterval), hclValue(t, n.nomad, "server", "server_join", "retry_interval"), "server.server_join.retry_interval")
			same(t, cty.TupleVal([]cty.Value{str("192.0.2.2:4648"), str("192.0.2.3:4648")}),
				hclValue(t, n.nomad, "server", "server_join", "retry_join"), "server.server_join.retry_join")
			same(t, str(pi.HeartbeatGrace), hclValue(t, n.nomad, "server", "heartbeat_grace"), "server.heartbeat_grace")
			same(t, str(pi.FailoverHeartbeatTTL), hclValue(t, n.nomad, "server", "failover_heartbeat_ttl"), "server.failover_heartbeat_ttl")
			same(t, cty.True, hclValue(t, n.nomad, "autopilot", "cleanup_dead_servers"), "autopilot.cleanup_dead_servers")
			same(t, num(3), hclValue(t, n.nomad, "autopilot", "min_quorum"), "autopilot.min_quorum")
			same(t, str(pi.NomadLastContactThreshold), hclValue(t, n.nomad, "autopilot", "last_contact_threshold"), "autopilot.last_contact_threshold")
		})
		t.Run(name+" consul", func(t *testing.T) {
			same(t, cty.BoolVal(server), hclValue(t, n.consul, "server"), "server")
			same(t, cty.BoolVal(!server), hclValue(t, n.consul, "leave_on_terminate"), "leave_on_terminate")
			same(t, cty.BoolVal(server), hclValue(t, n.consul, "skip_leave_on_interrupt"), "skip_leave_on_interrupt")
			same(t, cty.True, hclValue(t, n.consul, "rejoin_after_leave"), "rejoin_after_leave")
			same(t, num(0), hclValue(t, n.consul, "retry_max"), "retry_max")
			same(t, str(pi.RetryInterval), hclValue(t, n.consul, "retry_interval"), "retry_interval")
			if !server {
				require.False(t, hasBlock(n.consul, "autopilot"), "a client has no autopilot block")
				return
			}
			same(t, cty.True, hclValue(t, n.consul, "autopilot", "cleanup_dead_servers"), "autopilot.cleanup_dead_servers")
			same(t, num(3), hclValue(t, n.consul, "autopilot", "min_quorum"), "autopilot.min_quorum")
			same(t, str(pi.ConsulLastContactThreshold), hclValue(t, n.consul, "autopilot", "last_contact_threshold"), "autopilot.last_contact_threshold")
		})
		t.Run(name+" units wait for the clock", func(t *testing.T) {
			for unit, src := range map[string]string{"nomad.service": n.nomadUnit, "consul.service": n.consulUnit} {
				require.Contains(t, strings.Fields(unitLine(src, "After")), "time-sync.target", "%s starts before the clock is synced", unit)
				// Ordered after the target only: pulling it in is for the
				// unit that syncs the clock (chrony-wait).
				require.NotContains(t, strings.Fields(unitLine(src, "Wants")), "time-sync.target", unit)
			}
			require.Contains(t, n.chronyWait, "\n[Service]\n")
			require.Equal(t, "180", unitLine(n.chronyWait, "TimeoutStartSec"), "chrony-wait's bound")
		})
	}

	// The base role enables chrony-wait: without it nothing holds
	// time-sync.target and the agents' ordering waits for nothing.
	tasks, err := os.ReadFile(filepath.Join(ansibleDir(t), "roles", "base", "tasks", "main.yml"))
	require.NoError(t, err)
	require.Regexp(t, `(?s)ansible\.builtin\.systemd_service:\s+name: chrony-wait\s+enabled: true`, string(tasks))

	if testing.Short() {
		return
	}
	// The agents accept what the roles write (unknown or misplaced keys
	// fail here; the TLS files, missing, only warn).
	nomad, consul := testenv.Tool(t, binaries.Nomad), testenv.Tool(t, binaries.Consul)
	for _, name := range []string{"node-01", "node-04"} {
		n := nodes[name]
		out, err := exec.Command(nomad, "config", "validate", n.nomadFile).CombinedOutput()
		require.NoError(t, err, "nomad config validate %s:\n%s", name, out)
		out, err = exec.Command(consul, "validate", "-quiet", n.consulFile).CombinedOutput()
		require.NoError(t, err, "consul validate %s:\n%s", name, out)
	}
}

package provision

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// badInput is a provisioning mistake and what the failure must say.
type badInput struct {
	name  string
	args  []string
	extra map[string]any
	want  []string
}

// checkBadInputs runs site.yml against a converged cluster with each
// mistake and requires it to fail with a message that says what to fix.
func checkBadInputs(t *testing.T, c *testCluster) {
	cgroupsOff := filepath.Join(c.nodes[0].root, "fake-proc-cgroups-memory-off")
	require.NoError(t, os.WriteFile(cgroupsOff, []byte("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t0\t1\t0\n"), 0o644))
	for _, tc := range []badInput{
		{
			name:  "missing SSH key",
			args:  []string{"--tags", "base", "--limit", "node-01"},
			extra: map[string]any{"base_admin_ssh_keys": []string{}},
			want:  []string{"base_admin_ssh_keys is empty", "you are locked out"},
		},
		{
			name:  "32-bit ARM",
			args:  []string{"--tags", "base", "--limit", "node-01"},
			extra: map[string]any{"base_architecture": "armv7l"},
			want:  []string{"node-01 runs armv7l", "Nomad ships no 32-bit ARM builds", "64-bit"},
		},
		{
			name:  "no memory cgroup after the reboot",
			args:  []string{"--tags", "raspberrypi", "--limit", "node-01"},
			extra: map[string]any{"raspberrypi_cgroups_file": "/fake-proc-cgroups-memory-off"},
			want:  []string{"memory cgroup is still off on node-01", "cgroup_enable=memory cgroup_memory=1"},
		},
		{
			name:  "no storage for chain data",
			args:  []string{"--tags", "nomad", "--limit", "node-04"},
			extra: map[string]any{"nomad_client_volume_storage": map[string]string{"ltc-chain": "/mnt/no-usb-disk"}},
			want:  []string{"node-04 holds host volume ltc-chain", "/mnt/no-usb-disk does not exist", "USB"},
		},
		{
			name:  "a floating address a node has",
			args:  []string{"--tags", "floating_address", "--limit", "node-01"},
			extra: map[string]any{"pool_floating_address": c.nodeAddr(2)},
			want:  []string{"The address of node-02", "the floating address must be one no node has"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra, err := json.Marshal(tc.extra)
			require.NoError(t, err)
			out, err := c.tryPlaybook(t, "site.yml", append(tc.args, "-e", string(extra))...)
			require.Error(t, err, "site.yml accepted %s:\n%s", tc.name, out)
			for _, w := range tc.want {
				require.Contains(t, out, w, "the failure does not say what to fix")
			}
			r := parseRecap(out)
			require.NotEmpty(t, r, "no PLAY RECAP in:\n%s", out)
			require.Empty(t, r.changedHosts(), "a failing run changed something:\n%s", out)
		})
	}
}

// An inventory with an even number of servers is refused before any node
// is touched (the check connects to none, so the hosts need not exist).
func TestEvenNumberOfServersRefused(t *testing.T) {
	needTool(t, "ansible-playbook", "ansible")
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.yml")
	require.NoError(t, os.WriteFile(inv, []byte(`all:
  vars:
    ansible_connection: community.general.chroot
  children:
    servers:
      hosts:
        node-01: {ansible_host: /nonexistent/node-01}
        node-02: {ansible_host: /nonexistent/node-02}
    clients:
      hosts:
        node-01: {}
        node-02: {}
        node-03: {ansible_host: /nonexistent/node-03}
`), 0o644))
	c := &testCluster{inventory: inv}
	out, err := c.tryPlaybook(t, "site.yml")
	require.Error(t, err, "site.yml accepted two servers:\n%s", out)
	require.Contains(t, out, "The inventory has 2 servers")
	require.Contains(t, out, "use an odd number")
	require.NotContains(t, out, "Gathering Facts")
}

package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// RenderKeepalivedConf renders the floating_address role's keepalived.conf
// template with vars alone (ansible's template module on localhost), as
// the role would on a node, and returns the text.
func RenderKeepalivedConf(t testing.TB, vars map[string]any) string {
	t.Helper()
	ansible, err := exec.LookPath("ansible")
	require.NoError(t, err, "ansible is missing: install the Debian package ansible (task setup)")
	root := filepath.Join(RepoRoot(t), "ansible")
	src := filepath.Join(root, "roles", "floating_address", "templates", "keepalived.conf.j2")
	dir := t.TempDir()
	data, err := json.Marshal(vars)
	require.NoError(t, err)
	varsFile := filepath.Join(dir, "vars.json")
	require.NoError(t, os.WriteFile(varsFile, data, 0o600))
	dest := filepath.Join(dir, "keepalived.conf")
	cmd := exec.Command(ansible, "localhost", "-c", "local", "-i", "localhost,", "-m", "ansible.builtin.template",
		"-a", "src="+src+" dest="+dest, "-e", "@"+varsFile)
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(root, "ansible.cfg"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "render the role's keepalived.conf: %s", out)
	conf, err := os.ReadFile(dest)
	require.NoError(t, err)
	return string(conf)
}

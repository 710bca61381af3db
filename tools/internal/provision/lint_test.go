package provision

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ANSIBLE_CONFIG is set explicitly: Ansible ignores an ansible.cfg in a
// world-writable directory, and the checks must not depend on the caller's.
func ansibleEnv(t testing.TB) []string {
	return []string{
		"ANSIBLE_CONFIG=" + filepath.Join(ansibleDir(t), "ansible.cfg"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0", "NO_COLOR=1",
		"ANSIBLE_LOCAL_TEMP=" + t.TempDir(), "ANSIBLE_HOME=" + t.TempDir(),
	}
}

var playbooks = []string{"site.yml", "add-node.yml", "upgrade.yml", "acl.yml"}

func TestYamllint(t *testing.T) {
	yamllint := needTool(t, "yamllint", "yamllint")
	run(t, ansibleDir(t), nil, yamllint, "--strict", ".")
}

func TestAnsibleLintProductionProfile(t *testing.T) {
	lint := needTool(t, "ansible-lint", "ansible-lint")
	out := run(t, ansibleDir(t), ansibleEnv(t), lint, "--profile", "production", "--nocolor")
	t.Log(out)
}

func TestPlaybooksSyntax(t *testing.T) {
	playbook := needTool(t, "ansible-playbook", "ansible")
	for _, p := range playbooks {
		t.Run(p, func(t *testing.T) {
			run(t, ansibleDir(t), ansibleEnv(t), playbook, "--syntax-check", p)
		})
	}
}

var defaultKey = regexp.MustCompile(`(?m)^([a-z][a-z0-9_]*):`)

// Every tunable a role has (its defaults) appears in the example's
// group_vars/all.yml, as a setting or as a comment saying the inventory
// sets it, with a comment that explains it.
func TestEveryTunableDocumentedInGroupVars(t *testing.T) {
	groupVars, err := os.ReadFile(filepath.Join(ansibleDir(t), "inventories", "home-12pi", "group_vars", "all.yml"))
	require.NoError(t, err)
	lines := strings.Split(string(groupVars), "\n")
	defaults, err := filepath.Glob(filepath.Join(ansibleDir(t), "roles", "*", "defaults", "main.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, defaults)
	var missing []string
	for _, f := range defaults {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		role := filepath.Base(filepath.Dir(filepath.Dir(f)))
		for _, m := range defaultKey.FindAllStringSubmatch(string(src), -1) {
			key := m[1]
			require.True(t, strings.HasPrefix(key, role+"_") || role == "pool" && strings.HasPrefix(key, "pool_"),
				"%s: %s is not prefixed with the role's name", f, key)
			if !documented(lines, key) {
				missing = append(missing, role+": "+key)
			}
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "tunables missing from group_vars/all.yml or without a comment above them")
}

// documented says whether key is set (or named as set by the inventory) in
// lines, under a comment: the contiguous lines above it (a group of alike
// settings may share one comment) reach a comment before a blank line.
func documented(lines []string, key string) bool {
	for i, l := range lines {
		if strings.HasPrefix(l, "# "+key+": set per node by the inventory") {
			return true
		}
		if !strings.HasPrefix(l, key+":") {
			continue
		}
		for j := i - 1; j >= 0 && lines[j] != ""; j-- {
			if strings.HasPrefix(lines[j], "#") {
				return true
			}
		}
		return false
	}
	return false
}

package provision

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
)

var chrootEntry = regexp.MustCompile(`^  - "?([^"]+)"?$`)

// chrootEnvPaths reads the entries of nomad_client_chroot_env_paths in a
// YAML file, with the role's multiarch triplet as the Go side has it here.
func chrootEnvPaths(t *testing.T, file string) []string {
	t.Helper()
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "arm": "arm-linux-gnueabihf"}[runtime.GOARCH]
	var paths []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case line == "nomad_client_chroot_env_paths:":
			in = true
		case !in || strings.HasPrefix(line, "  #"):
		case strings.HasPrefix(line, "  - "):
			m := chrootEntry.FindStringSubmatch(line)
			require.NotNil(t, m, "%s: %q", file, line)
			paths = append(paths, strings.ReplaceAll(m[1], "{{ _nomad_triplet }}", triplet))
		default:
			in = false
		}
	}
	require.NotEmpty(t, paths, "%s: no nomad_client_chroot_env_paths", file)
	return paths
}

// The Pis' chroot_env (the nomad role's default, repeated in the example's
// group_vars) and the local clusters' (cluster.ChrootEnv) are one list: a
// job that runs in a test cluster must find the same files on a Pi.
func TestChrootEnvMatchesRole(t *testing.T) {
	want := cluster.ChrootEnvPaths()
	for _, f := range []string{
		filepath.Join(ansibleDir(t), "roles", "nomad", "defaults", "main.yml"),
		filepath.Join(ansibleDir(t), "inventories", "home-12pi", "group_vars", "all.yml"),
	} {
		require.ElementsMatch(t, want, chrootEnvPaths(t, f), "%s and cluster.ChrootEnvPaths differ", f)
	}
}

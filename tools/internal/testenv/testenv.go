// Package testenv gives integration tests what they need to run against
// real agents: the pinned nomad, consul and nomad-pack binaries, a built
// poolctl, and local clusters that are torn down when the test ends.
//
// Integration tests skip under -short; without -short they require root
// (Nomad's exec driver) and fail when a part is missing, so that the test
// command never passes by skipping.
package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// Integration skips t under -short and requires root otherwise.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs against real agents; skipped with -short")
	}
	require.Equal(t, 0, os.Geteuid(), "integration tests run Nomad clients with the exec driver, which needs root")
}

// RepoRoot is the repository's top directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Example is the path of examples/<name>/pool.hcl.
func Example(t testing.TB, name string) string {
	return filepath.Join(RepoRoot(t), "examples", name, "pool.hcl")
}

var (
	toolsOnce sync.Map // tool name -> *toolResult
)

type toolResult struct {
	once sync.Once
	path string
	err  error
}

// Tool returns the path of a pinned binary, building it once if needed.
func Tool(t testing.TB, tool binaries.Tool) string {
	t.Helper()
	v, _ := toolsOnce.LoadOrStore(tool.Name, &toolResult{})
	r := v.(*toolResult)
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		r.path, r.err = binaries.Ensure(ctx, tool, os.Stderr)
	})
	require.NoError(t, r.err, "find or build %s", tool.Name)
	return r.path
}

var (
	poolctlOnce sync.Once
	poolctlPath string
	poolctlErr  error
)

// Poolctl builds poolctl once per test binary and returns its path.
//
// A test binary has no hook at its end to remove what it built, so each
// builds into a directory named by its process id, and removes the
// directories of test binaries that have ended (a 60 MB binary per
// package and run otherwise piles up in the temporary directory).
func Poolctl(t testing.TB) string {
	t.Helper()
	poolctlOnce.Do(func() {
		base := filepath.Join(os.TempDir(), "poolctl-test-bin")
		if err := os.MkdirAll(base, 0o755); err != nil {
			poolctlErr = err
			return
		}
		removeEnded(base)
		dir := filepath.Join(base, strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			poolctlErr = err
			return
		}
		poolctlPath = filepath.Join(dir, "poolctl")
		cmd := exec.Command("go", "build", "-o", poolctlPath, "./tools/cmd/poolctl")
		cmd.Dir = RepoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			poolctlErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, poolctlErr)
	return poolctlPath
}

// removeEnded removes the directories in base named by the id of a
// process that no longer runs.
func removeEnded(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "go build poolctl: " + e.err.Error() + "\n" + e.out }

// LoadPool validates a pool definition file that must be valid.
func LoadPool(t testing.TB, path string) (*config.Pool, []*jobspec.Job) {
	t.Helper()
	pool, _, diags := config.Load(path)
	require.False(t, diags.HasErrors(), "%s: %s", path, diags.Error())
	return pool, jobspec.Render(pool)
}

// ClusterOptions shape a test cluster.
type ClusterOptions struct {
	Clients []cluster.Client
	// Servers is the number of server-only agents (0: the first client
	// is the server).
	Servers int
	ACL     bool
	// Production shapes the cluster as the Pis are (cluster.Spec's
	// Production): the first Servers clients are the servers.
	Production bool
}

// StartCluster starts a local cluster for pool in a fresh slot and stops
// it, with everything it ran, when the test ends.
func StartCluster(t testing.TB, pool *config.Pool, o ClusterOptions) *cluster.Cluster {
	t.Helper()
	Integration(t)
	spec := cluster.Spec{
		StateDir:   t.TempDir(),
		Slot:       -1,
		Datacenter: pool.Settings.Datacenter,
		Region:     pool.Settings.Region,
		Clients:    o.Clients,
		Servers:    o.Servers,
		ACL:        o.ACL,
		Production: o.Production,
		Poolctl:    Poolctl(t),
		PoolctlDir: filepath.Dir(pool.Settings.Poolctl),
		NomadBin:   Tool(t, binaries.Nomad),
		ConsulBin:  Tool(t, binaries.Consul),
		Log:        testWriter{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Up(ctx, spec)
	require.NoError(t, err, "start a local cluster")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := c.Down(ctx); err != nil {
			t.Errorf("stop the local cluster: %v", err)
		}
	})
	return c
}

// DevCluster starts a cluster shaped like the pool's model: one node
// that is server and client for a one-node model, else a server and one
// client per model node.
func DevCluster(t testing.TB, pool *config.Pool, jobs []*jobspec.Job) *cluster.Cluster {
	t.Helper()
	clients := cluster.ModelClients(pool, jobs)
	servers := 0
	if len(clients) > 1 {
		servers = 1
	}
	return StartCluster(t, pool, ClusterOptions{Clients: clients, Servers: servers})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Deploy runs the built poolctl's deploy of pool on the cluster and
// requires it to succeed.
func Deploy(t testing.TB, c *cluster.Cluster, pool string) string {
	t.Helper()
	cmd := exec.Command(Poolctl(t), "deploy", "--address", c.NomadAddr(), "--consul-address", c.ConsulAddr(), pool)
	cmd.Env = append(os.Environ(), "NOMAD_TOKEN=", "CONSUL_HTTP_TOKEN=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "poolctl deploy %s:\n%s", pool, out)
	return string(out)
}

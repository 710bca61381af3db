package cluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// sleeper is a job whose task holds a port, so that a leftover task after
// Down would show as a bound port.
func sleeper(id string, count int) *nomadapi.Job {
	job := nomadapi.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"dc1"}
	tg := nomadapi.NewTaskGroup("g", count)
	tg.Networks = []*nomadapi.NetworkResource{{DynamicPorts: []nomadapi.Port{{Label: "p"}}}}
	task := nomadapi.NewTask("t", "exec")
	task.Config = map[string]any{"command": "/bin/sh", "args": []string{"-c", "exec sleep 3600"}}
	task.Resources = &nomadapi.Resources{CPU: ptr(50), MemoryMB: ptr(32)}
	tg.Tasks = []*nomadapi.Task{task}
	job.TaskGroups = []*nomadapi.TaskGroup{tg}
	return job
}

func ptr[T any](v T) *T { return &v }

type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func start(t *testing.T, clients int, log *logBuffer) *cluster.Cluster {
	t.Helper()
	return startIn(t, t.TempDir(), clients, log)
}

func startIn(t *testing.T, stateDir string, clients int, log *logBuffer) *cluster.Cluster {
	t.Helper()
	testenv.Integration(t)
	shape := make([]cluster.Client, clients)
	for i := range shape {
		shape[i] = cluster.Client{Name: fmt.Sprintf("n%d", i+1), CPUMHz: 4800, MemoryMB: 1024}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := cluster.Up(ctx, cluster.Spec{
		StateDir:  stateDir,
		Slot:      -1,
		Clients:   shape,
		Servers:   min(clients-1, 1),
		NomadBin:  testenv.Tool(t, binaries.Nomad),
		ConsulBin: testenv.Tool(t, binaries.Consul),
		Log:       log,
	})
	require.NoError(t, err)
	// A test that fails before its own Down must not leave the cluster
	// running.
	t.Cleanup(func() {
		if c.Running() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			assert.NoError(t, c.Down(ctx))
		}
	})
	return c
}

// runUntilRunning registers job and waits for its allocations to run.
func runUntilRunning(t *testing.T, c *cluster.Cluster, job *nomadapi.Job) []*nomadapi.AllocationListStub {
	t.Helper()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	_, _, err = nomad.Jobs().Register(job, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var index uint64
	for {
		allocs, meta, err := nomad.Jobs().Allocations(*job.ID, false, (&nomadapi.QueryOptions{WaitIndex: index}).WithContext(ctx))
		require.NoError(t, err, "allocations of %s did not all start", *job.ID)
		running := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" {
				running++
			}
		}
		if running == *job.TaskGroups[0].Count {
			return allocs
		}
		index = meta.LastIndex
	}
}

// leftovers lists what of the cluster still exists on the machine.
func leftovers(c *cluster.Cluster, taskPIDs []int) []string {
	var out []string
	for _, n := range c.Nodes {
		for _, p := range cluster.ListeningPorts(n.IP) {
			out = append(out, fmt.Sprintf("port %s:%d listened on", n.IP, p))
		}
		if n.Interface != "lo" {
			if err := exec.Command("ip", "link", "show", n.Interface).Run(); err == nil {
				out = append(out, "interface "+n.Interface)
			}
		}
		for _, pid := range []int{n.NomadPID, n.ConsulPID} {
			if pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) {
				out = append(out, fmt.Sprintf("agent pid %d", pid))
			}
		}
	}
	for _, pid := range taskPIDs {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			out = append(out, fmt.Sprintf("task pid %d", pid))
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), c.StateDir) {
		out = append(out, "mounts under "+c.StateDir)
	}
	if _, err := os.Stat(c.PluginDir); err == nil {
		out = append(out, "plugin sockets' directory "+c.PluginDir)
	}
	return out
}

// pluginSockets lists the Unix sockets in the node's plugin directory:
// those of the logmon and executor processes its Nomad agent started.
func pluginSockets(t *testing.T, c *cluster.Cluster, node string) []string {
	t.Helper()
	require.NotEmpty(t, c.PluginDir)
	found, err := filepath.Glob(filepath.Join(c.PluginDir, node, "plugin*"))
	require.NoError(t, err)
	return found
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] == "Z"
}

// sleepPIDs finds the processes of the cluster's tasks by their cgroups
// (/nomad/<alloc id>.<task> on cgroup v1, .../<alloc id>.<task>.scope
// under nomad.slice on v2): only this cluster's, since other test
// packages run their own Nomad tasks on the machine at the same time. By
// cgroup, not by name: an allocation is "running" as its task starts, and
// the sleeper's shell may not have exec'd sleep yet (same process).
func sleepPIDs(t *testing.T, c *cluster.Cluster) []int {
	t.Helper()
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	allocs, _, err := nomad.Allocations().List(nil)
	require.NoError(t, err)
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		for _, a := range allocs {
			if strings.Contains(string(cg), "nomad") && strings.Contains(string(cg), "/"+a.ID+".") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func TestUpDownLeavesNothing(t *testing.T) {
	c := start(t, 1, &logBuffer{})
	runUntilRunning(t, c, sleeper("sleepers", 2))
	tasks := sleepPIDs(t, c)
	require.NotEmpty(t, tasks)
	// Two tasks: a logmon and an executor each, their sockets in the
	// cluster's directory, not the machine's temporary one.
	assert.GreaterOrEqual(t, len(pluginSockets(t, c, c.Nodes[0].Name)), 4)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, c.Down(ctx))
	assert.Empty(t, leftovers(c, tasks))
}

// A killed Nomad agent leaves its executors and tasks running; Down still
// finds and ends them, and only them.
func TestDownAfterAgentWasKilled(t *testing.T) {
	log := &logBuffer{}
	c := start(t, 1, log)
	runUntilRunning(t, c, sleeper("orphans", 2))
	tasks := sleepPIDs(t, c)
	require.NotEmpty(t, tasks)
	bystander := exec.Command("sleep", "600")
	require.NoError(t, bystander.Start())
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })

	require.NoError(t, syscall.Kill(c.Nodes[0].NomadPID, syscall.SIGKILL))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, c.Down(ctx))
	assert.Contains(t, log.String(), "killed processes the Nomad agent left behind", "Down must say it had to kill left-over processes")
	assert.Empty(t, leftovers(c, tasks))
	assert.NoError(t, syscall.Kill(bystander.Process.Pid, 0), "Down ended a process it did not start")
}

func TestMultiNodeClusterIsPiShaped(t *testing.T) {
	c := start(t, 3, &logBuffer{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		assert.NoError(t, c.Down(ctx))
	})
	nomad, err := c.NomadClient()
	require.NoError(t, err)
	nodes, _, err := nomad.Nodes().List(nil)
	require.NoError(t, err)
	require.Len(t, nodes, 3)
	addresses := map[string]bool{}
	for _, stub := range nodes {
		n, _, err := nomad.Nodes().Info(stub.ID, nil)
		require.NoError(t, err)
		assert.Equal(t, int64(1024), n.NodeResources.Memory.MemoryMB, n.Name)
		assert.Equal(t, int64(4800), n.NodeResources.Cpu.CpuShares, n.Name)
		addresses[n.Attributes["unique.network.ip-address"]] = true
	}
	assert.Len(t, addresses, 3, "each client has an address of its own")
}

// A node whose power is cut answers nothing: a connect to its address
// times out, where a live address with nothing listening would refuse at
// once; with the power back it answers again.
func TestPowerCutSilencesTheNode(t *testing.T) {
	c := start(t, 2, &logBuffer{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		assert.NoError(t, c.Down(ctx))
	})
	var node cluster.Node
	for _, n := range c.Nodes {
		if !n.Server {
			node = n
		}
	}
	require.NotEmpty(t, node.Name, "a client node to cut")
	agent := net.JoinHostPort(node.IP, strconv.Itoa(cluster.NomadHTTPPort))
	unused := net.JoinHostPort(node.IP, "1")
	dial := func(addr string) error {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}
	require.NoError(t, dial(agent), "the node's agent answers before the cut")
	require.ErrorIs(t, dial(unused), syscall.ECONNREFUSED, "a port nobody listens on is refused while the node has power")

	ctx := context.Background()
	require.NoError(t, c.PowerOff(ctx, node.Name))
	for _, addr := range []string{agent, unused} {
		err := dial(addr)
		var netErr net.Error
		require.ErrorAs(t, err, &netErr, "%s after the power cut", addr)
		assert.True(t, netErr.Timeout(), "%s must be silent after the power cut, not: %v", addr, err)
	}

	require.NoError(t, c.PowerOn(ctx, node.Name))
	assert.NoError(t, dial(agent), "the node's agent answers once the power is back")
}

// A cluster in .../dev2 is not the cluster in .../dev: stopping one leaves
// the other's agents and tasks alone.
func TestTwoClustersDoNotTouchEachOther(t *testing.T) {
	base := t.TempDir()
	a := startIn(t, base+"/dev", 1, &logBuffer{})
	b := startIn(t, base+"/dev2", 1, &logBuffer{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		assert.NoError(t, b.Down(ctx))
	})
	runUntilRunning(t, b, sleeper("keep", 1))
	kept := sleepPIDs(t, b)
	require.Len(t, kept, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, a.Down(ctx))
	assert.True(t, b.Running(), "the other cluster's agents must survive")
	assert.NoError(t, syscall.Kill(kept[0], 0), "the other cluster's task must survive")
}

// An Up over a cluster that crashed (agents killed, tasks orphaned) first
// cleans up what the crash left, then starts afresh.
func TestUpAfterACrash(t *testing.T) {
	state := t.TempDir()
	c := startIn(t, state, 1, &logBuffer{})
	runUntilRunning(t, c, sleeper("orphan", 1))
	orphans := sleepPIDs(t, c)
	require.NotEmpty(t, orphans)
	for _, pid := range []int{c.Nodes[0].NomadPID, c.Nodes[0].ConsulPID} {
		killAndWait(t, pid)
	}

	again := startIn(t, state, 1, &logBuffer{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		assert.NoError(t, again.Down(ctx))
	})
	assert.True(t, again.Running())
	for _, pid := range orphans {
		assert.True(t, syscall.Kill(pid, 0) != nil || zombie(pid), "task %d of the crashed cluster still runs", pid)
	}
}

// killAndWait SIGKILLs pid and waits, on a pidfd, until it has exited: a
// crash is over when the process is gone, and on a loaded machine a killed
// agent can still be tearing down when the next line runs.
func killAndWait(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NoError(t, unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0))
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int((time.Minute).Milliseconds()))
	require.NoError(t, err)
	require.Equal(t, 1, n, "process %d did not exit within a minute of SIGKILL", pid)
}

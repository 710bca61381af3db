package main

import (
	"bufio"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// start runs a command in its own process group, ended with the test.
func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
}

// A shell stands in for the postmaster and a sleep for the backend: the
// shell's child from before the sampler began is one of the server's own
// processes; a child started later with a parallel worker's title for the
// backend is counted with the backend.
func TestDBSamplerCountsTheBackendsParallelWorkers(t *testing.T) {
	backend := exec.Command("sleep", "60")
	start(t, backend)
	sh := exec.Command("bash", "-c", `sleep 60 & echo ready; read _; (exec -a "postgres: parallel worker for PID $1" sleep 60) & echo started; wait`,
		"bash", strconv.Itoa(backend.Process.Pid))
	stdin, err := sh.StdinPipe()
	require.NoError(t, err)
	stdout, err := sh.StdoutPipe()
	require.NoError(t, err)
	start(t, sh)
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan())
	require.Equal(t, "ready", lines.Text())

	s, err := newDBSampler(sh.Process.Pid, backend.Process.Pid)
	require.NoError(t, err)
	require.Len(t, s.others, 1, "the shell's first child")
	alone, err := s.sample()
	require.NoError(t, err)
	own, err := procStatus(backend.Process.Pid)
	require.NoError(t, err)
	require.Equal(t, own["RssAnon"], alone.Private)
	require.Empty(t, s.workers)

	_, err = stdin.Write([]byte("go\n"))
	require.NoError(t, err)
	require.True(t, lines.Scan())
	require.Equal(t, "started", lines.Text())
	// The worker takes its title a moment after it starts.
	var withWorker dbMemory
	require.Eventually(t, func() bool {
		withWorker, err = s.sample()
		return err == nil && len(s.workers) == 1
	}, 5*time.Second, 10*time.Millisecond)
	// A worker caught while its program is still being loaded grows
	// between two reads (a cold run saw 0x2e000 then 0x31000): the sum
	// must hold once it runs, read in the same instant as the sample.
	var want, got uint64
	require.Eventually(t, func() bool {
		for pid := range s.workers {
			worker, err := procStatus(pid)
			if err != nil {
				return false
			}
			want = alone.Private + worker["RssAnon"]
		}
		if withWorker, err = s.sample(); err != nil {
			return false
		}
		got = withWorker.Private
		return got == want
	}, 5*time.Second, 10*time.Millisecond, "private memory %#x, want the backend's and its worker's %#x", got, want)
}

func TestDBSamplerFailsWithoutTheBackend(t *testing.T) {
	s := &dbSampler{postmaster: 1, backend: 1 << 30, others: map[int]bool{}, workers: map[int]bool{}}
	_, err := s.sample()
	require.Error(t, err)
}

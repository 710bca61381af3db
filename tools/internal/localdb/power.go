package localdb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Kill ends the member the way a power cut does: SIGKILL to Patroni's
// process group and to its PostgreSQL, which Patroni started in a session
// of its own and which would outlive it, with every backend. It returns
// once they are gone; killing a member twice, or one never started, is
// harmless.
func (m *Member) Kill() error {
	if m.cmd != nil {
		select {
		case <-m.exited:
			// Its process group may be another's by now.
		default:
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.exited
		}
	}
	// Patroni is gone: nothing restarts the server it ran.
	postmaster := m.postmasterPID()
	if postmaster == 0 {
		return nil
	}
	victims := append(childrenOf(postmaster), postmaster)
	for _, pid := range victims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, pid := range victims {
		for alive(pid) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("patroni %s: postgres process %d outlived SIGKILL", m.Name, pid)
			case <-tick.C:
			}
		}
	}
	return nil
}

// postmasterPID is the running postmaster of the member's data directory,
// from its postmaster.pid, or 0. A stale file's PID may belong to another
// process by now: it counts only if that process runs on this data
// directory.
func (m *Member) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(m.DataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(m.DataDir)) {
		return 0
	}
	return pid
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procStat(child); ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// alive says whether pid runs: a zombie waiting for a parent that is not
// the caller (the postmaster's is init) is gone as far as the caller
// cares.
func alive(pid int) bool {
	_, state := procStat(pid)
	return state != "" && state != "Z"
}

// procStat reads a process's parent and state from /proc/<pid>/stat;
// state is "" when there is no such process.
func procStat(pid int) (ppid int, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ""
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(fields[1])
	return ppid, fields[0]
}

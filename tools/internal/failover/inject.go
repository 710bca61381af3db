package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// TaskPID finds the main process of an allocation's task by its cgroup,
// which Nomad names <alloc id>.<task>.
func TaskPID(allocID, task string) (int, error) {
	return taskProcess(allocID, task, "")
}

// DaemonPID finds the litecoind process of a wallet allocation: the
// daemon task runs it as the child of `poolctl wallet daemon`, whose own
// process a freeze or a crash must not hit instead. An error means no
// litecoind runs there now (not started yet, or restarting).
func DaemonPID(allocID string) (int, error) {
	return taskProcess(allocID, "daemon", "litecoind")
}

// taskProcess is the first process of the task's cgroup whose command
// name is comm ("": any).
func taskProcess(allocID, task, comm string) (int, error) {
	patterns := []string{
		"/sys/fs/cgroup/pids/nomad/" + allocID + "." + task + "/cgroup.procs",
		"/sys/fs/cgroup/*/nomad/" + allocID + "." + task + "/cgroup.procs",
		"/sys/fs/cgroup/nomad.slice/*/" + allocID + "." + task + ".scope/cgroup.procs",
	}
	for _, pattern := range patterns {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(data)) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					continue
				}
				name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if n := strings.TrimSpace(string(name)); n != "" && (comm == "" || n == comm) {
					return pid, nil
				}
			}
		}
	}
	if comm != "" {
		return 0, fmt.Errorf("no %s process in task %s of allocation %s", comm, task, allocID)
	}
	return 0, fmt.Errorf("no process of task %s in allocation %s", task, allocID)
}

// Crash kills the wallet daemon (litecoind) of an allocation, as a crash
// would.
func Crash(allocID string) error { return signal(allocID, syscall.SIGKILL) }

// Hang freezes the wallet daemon: it keeps its ports open and answers
// nothing, as a hung daemon does.
func Hang(allocID string) error { return signal(allocID, syscall.SIGSTOP) }

// Resume lets a frozen daemon run again.
func Resume(allocID string) error { return signal(allocID, syscall.SIGCONT) }

func signal(allocID string, sig syscall.Signal) error {
	pid, err := DaemonPID(allocID)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

// WalletClient returns an RPC client for a wallet instance, with the
// coin's credentials from Nomad Variables.
func WalletClient(ctx context.Context, nomad *nomadapi.Client, secretsPath, addr string) (*chain.Client, error) {
	v, _, err := nomad.Variables().Read(secretsPath, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read the wallet credentials: %w", err)
	}
	return chain.NewClient(addr, v.Items[secrets.ItemUser], v.Items[secrets.ItemPassword]), nil
}

// Mine has a wallet mine n regtest blocks to its own wallet.
func Mine(ctx context.Context, c *chain.Client, n int) error {
	// The pool's wallets have "pool" loaded by their probe; a baseline
	// wallet without a probe has none until this creates it.
	if err := c.EnsureWallet(ctx, "pool"); err != nil {
		return err
	}
	addr, err := c.NewAddress(ctx)
	if err != nil {
		return err
	}
	_, err = c.GenerateToAddress(ctx, n, addr)
	return err
}

// NodeOf names the node an allocation runs on.
func NodeOf(ctx context.Context, nomad *nomadapi.Client, allocID string) (string, error) {
	a, _, err := nomad.Allocations().Info(allocID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", err
	}
	return a.NodeName, nil
}

// Restarts counts how often an allocation's task was restarted by Nomad.
func Restarts(ctx context.Context, nomad *nomadapi.Client, allocID, task string) (uint64, error) {
	a, _, err := nomad.Allocations().Info(allocID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return 0, err
	}
	st := a.TaskStates[task]
	if st == nil {
		return 0, fmt.Errorf("allocation %s has no task %s", allocID, task)
	}
	return st.Restarts, nil
}

// WaitPastGrace waits until the check_restart grace of the allocation's
// job (read from the job Nomad runs), plus margin, has passed since the
// task last (re)started: failed checks within the grace are ignored, so a
// hang injected earlier would not be acted on.
func WaitPastGrace(ctx context.Context, nomad *nomadapi.Client, allocID, task string, margin time.Duration) error {
	a, _, err := nomad.Allocations().Info(allocID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	st := a.TaskStates[task]
	if st == nil {
		return fmt.Errorf("allocation %s has no task %s", allocID, task)
	}
	started := st.StartedAt
	if st.LastRestart.After(started) {
		started = st.LastRestart
	}
	if wait := time.Until(started.Add(checkRestartGrace(a) + margin)); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// checkRestartGrace is the longest check_restart grace of the
// allocation's group services.
func checkRestartGrace(a *nomadapi.Allocation) time.Duration {
	var grace time.Duration
	if a.Job == nil {
		return grace
	}
	for _, g := range a.Job.TaskGroups {
		if g.Name == nil || *g.Name != a.TaskGroup {
			continue
		}
		for _, svc := range g.Services {
			for _, chk := range svc.Checks {
				if r := chk.CheckRestart; r != nil && r.Grace != nil && *r.Grace > grace {
					grace = *r.Grace
				}
			}
		}
	}
	return grace
}

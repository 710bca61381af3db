package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startAgent starts an agent in its own session, so that it outlives the
// `poolctl dev up` that started it and no terminal signal reaches it; env
// is added to this process's environment.
func startAgent(bin string, args []string, logPath string, env []string) (int, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	// Reap it if it ends while this process lives (tests); when this process
	// exits first, init adopts it.
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

// ours tells whether pid is alive and a process of this cluster: one of
// its agents or their plugins (the nomad or consul binary, with a path in
// the state directory among its arguments or a file there open), or a
// raw_exec task (NOMAD_ALLOC_DIR inside the state directory). Exec tasks run
// in their own mount namespace behind a chroot; sweep finds them by their
// cgroups. Paths are compared as paths, so that a cluster in .../dev2 is
// not taken for one in .../dev; a recycled pid of another program, or a
// shell that merely looks at the state directory, is never ours.
func ours(pid int, stateDir string, bins []string) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	inside := func(p string) bool { return p == stateDir || strings.HasPrefix(p, stateDir+"/") }
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && slices.Contains(bins, strings.TrimSuffix(exe, " (deleted)")) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			if _, value, ok := strings.Cut(arg, "="); ok {
				arg = value
			}
			if inside(arg) {
				return true
			}
		}
		// Plugins such as logmon and executors carry no path as an
		// argument of their own, but hold the allocation's files open.
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inside(target) {
				return true
			}
		}
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range strings.Split(string(environ), "\x00") {
		if v, ok := strings.CutPrefix(kv, "NOMAD_ALLOC_DIR="); ok && inside(v) {
			return true
		}
	}
	return false
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	// A zombie still answers signal 0; its /proc status says Z.
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(status[strings.LastIndexByte(string(status), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// plugins are the Nomad agent's plugin processes (logmon, executors):
// its children running bin. Nomad starts them to outlive the agent, to
// reattach to after a restart, and an ended task's logmon holds nothing
// of the node's directory open, so once the agent is gone nothing tells
// them from another node's: they are found before it goes.
func plugins(agent int, bin string) []int {
	entries, err := os.ReadDir("/proc")
	if agent <= 0 || err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(agent) {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.TrimSuffix(exe, " (deleted)") == bin {
			out = append(out, pid)
		}
	}
	return out
}

// killPlugins kills the plugins found before their agent went that still
// run bin (a pid taken since by another program is left alone), as a
// machine's power cut or reboot ends them.
func killPlugins(ctx context.Context, pids []int, bin string) {
	for _, pid := range pids {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.TrimSuffix(exe, " (deleted)") == bin && alive(pid) {
			stopProcess(ctx, pid, syscall.SIGKILL, 5*time.Second)
		}
	}
}

// stopProcess sends sig and waits for the process to end, then kills it
// when grace runs out. Process exit has no event to block on from another
// session, so this polls /proc at a short interval.
func stopProcess(ctx context.Context, pid int, sig syscall.Signal, grace time.Duration) (killed bool) {
	if !alive(pid) {
		return false
	}
	_ = syscall.Kill(pid, sig)
	if waitGone(ctx, pid, grace) {
		return false
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(ctx, pid, 5*time.Second)
	return true
}

func waitGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for alive(pid) {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}

// allocCgroups lists the cgroup directories of the given allocations'
// tasks, in every controller (cgroups v1) or the unified tree (v2). Nomad
// names them <alloc id>.<task> whatever cgroup_parent says.
func allocCgroups(allocIDs []string) []string {
	var dirs []string
	for _, id := range allocIDs {
		for _, pattern := range []string{
			"/sys/fs/cgroup/*/nomad/" + id + ".*",
			"/sys/fs/cgroup/nomad.slice/*/" + id + ".*",
		} {
			m, _ := filepath.Glob(pattern)
			dirs = append(dirs, m...)
		}
	}
	return dirs
}

// sweep kills every process of the cluster still alive: agents' plugins
// (executors, logmon) and the tasks in the cgroups of the cluster's
// allocations, which a killed agent leaves running. It returns their
// descriptions.
func sweep(ctx context.Context, stateDir string, bins []string, allocIDs []string) []string {
	pids := map[int]bool{}
	if entries, err := os.ReadDir("/proc"); err == nil {
		for _, e := range entries {
			if pid, err := strconv.Atoi(e.Name()); err == nil && ours(pid, stateDir, bins) {
				pids[pid] = true
			}
		}
	}
	for _, dir := range allocCgroups(allocIDs) {
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(procs)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids[pid] = true
			}
		}
	}
	var killed []string
	for pid := range pids {
		if !alive(pid) {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		killed = append(killed, fmt.Sprintf("%s (pid %d)", strings.TrimSpace(string(comm)), pid))
		stopProcess(ctx, pid, syscall.SIGKILL, 5*time.Second)
	}
	sort.Strings(killed)
	return killed
}

// unmountAll detaches every mount below dir, deepest first: the exec
// driver's bind mounts (alloc, secrets, volumes) outlive a killed client and
// would make the state directory impossible to remove.
func unmountAll(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			p := unescapeMount(fields[4])
			if p == dir || strings.HasPrefix(p, dir+"/") {
				mounts = append(mounts, p)
			}
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount decodes the octal escapes mountinfo uses for spaces and
// other characters in paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes the cgroup directories of the given allocations'
// tasks, children first; Nomad leaves them behind when its agent is killed.
// A directory still holding a process cannot be removed; that is reported.
func removeCgroups(allocIDs []string) error {
	var errs []error
	for _, top := range allocCgroups(allocIDs) {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := rmdirCgroup(d, 10*time.Second); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// rmdirCgroup removes a cgroup directory once nothing holds it: tasks
// just killed are still leaving it (their parents, killed too, leave them
// to init to reap), and the kernel refuses the removal (EBUSY) until the
// last has gone. A cgroup v1 directory offers no event for that, so this
// polls, for at most timeout.
func rmdirCgroup(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Rmdir(dir)
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

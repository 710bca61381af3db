package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
)

func (c *Cluster) node(name string) (*Node, error) {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i], nil
		}
	}
	return nil, fmt.Errorf("no node %q in the cluster", name)
}

// PowerOff cuts one node's power (see PowerCut).
func (c *Cluster) PowerOff(ctx context.Context, name string) error {
	return c.PowerCut(ctx, name)
}

// PowerCut cuts the power of the named nodes at once: their addresses
// stop answering (no refusals, as a machine that is off sends none), then
// their Nomad and Consul agents and every process they run (executors,
// logmon, tasks) are killed with SIGKILL, and what a reboot does not keep
// goes too: the mounts under the nodes' directories (the tasks' secrets
// tmpfs and bind mounts) and the tasks' cgroups. What is on disk stays as
// the kill left it. Nothing is told to the servers; they notice when
// heartbeats stop. In a dev-shaped cluster only clients lose power (its
// one Consul server keeps its state in memory).
func (c *Cluster) PowerCut(ctx context.Context, names ...string) error {
	var nodes []*Node
	for _, name := range names {
		n, err := c.node(name)
		if err != nil {
			return err
		}
		if n.Server && !c.Production {
			return fmt.Errorf("node %s runs a server of a dev-shaped cluster; cut the power of a client", name)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := silence(n.Interface, n.IP); err != nil {
			return err
		}
	}
	plugged := map[string][]int{}
	for _, n := range nodes {
		if ours(n.NomadPID, n.Dir, c.bins()) {
			plugged[n.Name] = plugins(n.NomadPID, c.NomadBin)
		}
	}
	for _, n := range nodes {
		for _, pid := range []int{n.NomadPID, n.ConsulPID} {
			if ours(pid, n.Dir, c.bins()) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	var errs []error
	for _, n := range nodes {
		n.Off = true
		allocs := n.allocIDs()
		killPlugins(ctx, plugged[n.Name], c.NomadBin)
		killed := sweep(ctx, n.Dir, []string{c.NomadBin}, allocs)
		if err := unmountAll(n.Dir); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
		if err := removeCgroups(allocs); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
		if err := c.clearPluginSockets(n); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
		c.logf("power cut on %s: killed its agents and %d processes", n.Name, len(killed))
	}
	if err := c.save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Shutdown stops the named nodes as systemd does when every Pi is
// rebooted (after unattended upgrades): Nomad gets SIGINT and Consul
// SIGTERM (the units' KillSignal), each with 90 s to exit; then what is
// left (the tasks, in Nomad's cgroups, outside the units) gets SIGTERM
// and 10 s before SIGKILL, and the reboot's volatile state goes as in
// PowerCut. The nodes stay off until Boot.
func (c *Cluster) Shutdown(ctx context.Context, names ...string) error {
	var nodes []*Node
	for _, name := range names {
		n, err := c.node(name)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	plugged := map[string][]int{}
	for _, n := range nodes {
		if ours(n.NomadPID, n.Dir, c.bins()) {
			plugged[n.Name] = plugins(n.NomadPID, c.NomadBin)
		}
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		for _, a := range []struct {
			pid int
			sig syscall.Signal
		}{{n.NomadPID, syscall.SIGINT}, {n.ConsulPID, syscall.SIGTERM}} {
			if !ours(a.pid, n.Dir, c.bins()) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				stopProcess(ctx, a.pid, a.sig, 90*time.Second)
			}()
		}
	}
	wg.Wait()
	var errs []error
	for _, n := range nodes {
		n.Off = true
		allocs := n.allocIDs()
		for _, dir := range allocCgroups(allocs) {
			procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, f := range strings.Fields(string(procs)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					wg.Add(1)
					go func() {
						defer wg.Done()
						stopProcess(ctx, pid, syscall.SIGTERM, 10*time.Second)
					}()
				}
			}
		}
		wg.Wait()
		killPlugins(ctx, plugged[n.Name], c.NomadBin)
		killed := sweep(ctx, n.Dir, []string{c.NomadBin}, allocs)
		if err := silence(n.Interface, n.IP); err != nil {
			errs = append(errs, err)
		}
		if err := unmountAll(n.Dir); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
		if err := removeCgroups(allocs); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
		if err := c.clearPluginSockets(n); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
		c.logf("%s shut down for a reboot (%d processes left for the final kill: executors, logmon)", n.Name, len(killed))
	}
	if err := c.save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Boot gives a node its power back: its agents start with their state as
// the cut left it. It does not wait for them (PowerOn does).
func (c *Cluster) Boot(name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	if err := unsilence(n.Interface); err != nil {
		return err
	}
	if err := c.startConsul(n); err != nil {
		return err
	}
	pid, err := c.startNomad(n)
	if err != nil {
		return err
	}
	n.NomadPID, n.Off = pid, false
	c.logf("power back on %s: nomad agent pid %d", n.Name, pid)
	return c.save()
}

// PowerOn starts a node's agents again, with their state as the power
// cut left it, and waits until the servers see the node ready to run
// tasks (canRunTasks), registered by the new agent (after a short cut
// they may still hold the old agent's "ready", which says nothing about
// the new one), and its agent answers.
func (c *Cluster) PowerOn(ctx context.Context, name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	nomad, err := c.NomadClient()
	if err != nil {
		return err
	}
	nodes, _, err := nomad.Nodes().List((&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("read %s before its power comes back: %w", name, err)
	}
	var before uint64
	for _, stub := range nodes {
		if stub.Name == name {
			before = stub.ModifyIndex
		}
	}
	if err := c.Boot(name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var index uint64
	for {
		nodes, meta, err := nomad.Nodes().List((&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("wait for %s to come back: %w", name, err)
		}
		for _, stub := range nodes {
			if stub.Name == name && stub.ModifyIndex > before && canRunTasks(ctx, nomad, stub) {
				return waitListening(ctx, net.JoinHostPort(n.IP, strconv.Itoa(NomadHTTPPort)))
			}
		}
		index = meta.LastIndex
	}
}

// waitListening waits until addr accepts a connection: an agent registers
// with the servers while its own HTTP API may still be starting.
func waitListening(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not answer: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

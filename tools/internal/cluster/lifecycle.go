package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
)

// NomadClient returns an API client for the cluster's Nomad.
//
// The clients are built from scratch rather than from the environment: the
// NOMAD_* and CONSUL_* variables in the operator's shell may well point at
// the real cluster, with its tokens and certificates.
func (c *Cluster) NomadClient() (*nomadapi.Client, error) {
	return nomadapi.NewClient(&nomadapi.Config{
		Address:   c.NomadAddr(),
		Region:    c.Region,
		Namespace: "default",
		SecretID:  c.NomadToken,
		TLSConfig: &nomadapi.TLSConfig{},
	})
}

// ConsulClient returns an API client for the cluster's Consul (see
// NomadClient on the environment).
func (c *Cluster) ConsulClient() (*consulapi.Client, error) {
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address, cfg.Scheme, cfg.HttpAuth = c.ConsulAddr(), "http", nil
	cfg.TLSConfig = consulapi.TLSConfig{}
	cfg.Namespace, cfg.Partition, cfg.TokenFile = "", "", ""
	// NewClient fills an empty token from CONSUL_HTTP_TOKEN; the
	// well-known anonymous token is what a dev agent expects anyway.
	cfg.Token = "anonymous"
	return consulapi.NewClient(cfg)
}

// agentDied reports an agent that exited, with the end of its log.
func (c *Cluster) agentDied() error {
	for _, n := range c.Nodes {
		agents := []struct {
			name string
			pid  int
		}{{"nomad", n.NomadPID}, {"consul", n.ConsulPID}}
		for _, a := range agents {
			if !alive(a.pid) {
				log := filepath.Join(n.Dir, a.name+".log")
				return fmt.Errorf("%s agent of %s exited during start-up; last lines of %s:\n%s", a.name, n.Name, log, tail(log, 15))
			}
		}
	}
	return nil
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "  " + strings.Join(all, "\n  ")
}

// waitReady waits for both leaders and a ready Nomad client with a healthy
// exec driver. Until an agent's HTTP API listens there is nothing to block
// on, so that part retries on a short tick; after it, Nomad's node list is
// followed with blocking queries.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	consul, err := c.ConsulClient()
	if err != nil {
		return err
	}
	nomad, err := c.NomadClient()
	if err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		cl, cerr := consul.Status().Leader()
		nl, nerr := nomad.Status().Leader()
		if cerr == nil && cl != "" && nerr == nil && nl != "" {
			break
		}
		if err := c.agentDied(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agents did not elect leaders within %s (consul: %v, nomad: %v); see the logs in %s", timeout, cerr, nerr, c.StateDir)
		case <-tick.C:
		}
	}
	for {
		members, err := consul.Agent().Members(false)
		alive := 0
		for _, m := range members {
			if m.Status == 1 { // serf: alive
				alive++
			}
		}
		if err == nil && alive == len(c.Nodes) {
			break
		}
		if err := c.agentDied(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not every node's Consul agent joined within %s (%d of %d)", timeout, alive, len(c.Nodes))
		case <-tick.C:
		}
	}
	c.logf("consul and nomad have leaders")
	if c.ACL && c.NomadToken == "" {
		token, _, err := nomad.ACLTokens().Bootstrap(nil)
		if err != nil {
			return fmt.Errorf("bootstrap Nomad's ACL system: %w", err)
		}
		c.NomadToken = token.SecretID
		if err := os.WriteFile(filepath.Join(c.StateDir, tokenFile), []byte(c.NomadToken+"\n"), 0o600); err != nil {
			return err
		}
		if nomad, err = c.NomadClient(); err != nil {
			return err
		}
		c.logf("nomad ACLs bootstrapped; management token in %s", filepath.Join(c.StateDir, tokenFile))
	}
	var index uint64
	for {
		q := (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
		nodes, meta, err := nomad.Nodes().List(q)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("the Nomad client did not become ready within %s; see %s", timeout, c.StateDir)
			}
			return fmt.Errorf("list Nomad nodes at %s: %w", c.NomadAddr(), err)
		}
		ready := 0
		for _, n := range nodes {
			if canRunTasks(ctx, nomad, n) {
				ready++
			}
		}
		if ready == len(c.Clients()) {
			c.logf("nomad: %d client(s) ready with the exec driver and Consul", ready)
			return nil
		}
		if err := c.agentDied(); err != nil {
			return err
		}
		index = meta.LastIndex
	}
}

// Down stops every job, then the agents, then sweeps what a killed agent
// may have left (executors, tasks, mounts, cgroups), removes the cluster's
// interfaces and Nomad's data, and checks no agent port is still bound.
// Volumes and logs stay for inspection (RemoveState deletes them).
func (c *Cluster) Down(ctx context.Context) error {
	var errs []error
	nomadUp := false
	for _, n := range c.Nodes {
		nomadUp = nomadUp || ours(n.NomadPID, c.StateDir, c.bins())
	}
	if nomadUp {
		// Stopping the jobs first lets tasks shut down cleanly (a wallet
		// flushes its chain state). If Nomad cannot do it (a dying agent),
		// the sweep below still ends every task, so this is no failure.
		if err := c.stopJobs(ctx, 3*time.Minute); err != nil {
			c.logf("could not stop the jobs through Nomad (%v); ending their tasks directly", err)
		}
	}
	// Clients first, the server last, each leaving gracefully; their
	// plugins after them.
	var plugged []int
	for _, n := range c.Nodes {
		if ours(n.NomadPID, c.StateDir, c.bins()) {
			plugged = append(plugged, plugins(n.NomadPID, c.NomadBin)...)
		}
	}
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		n := c.Nodes[i]
		if ours(n.NomadPID, c.StateDir, c.bins()) {
			if stopProcess(ctx, n.NomadPID, syscall.SIGINT, 30*time.Second) {
				c.logf("nomad agent %s did not stop in 30s and was killed", n.Name)
			}
		}
	}
	killPlugins(ctx, plugged, c.NomadBin)
	allocs := c.allocIDs()
	if killed := sweep(ctx, c.StateDir, []string{c.NomadBin}, allocs); len(killed) > 0 {
		c.logf("killed processes the Nomad agent left behind: %s", strings.Join(killed, ", "))
	}
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		n := c.Nodes[i]
		if ours(n.ConsulPID, c.StateDir, c.bins()) {
			if stopProcess(ctx, n.ConsulPID, syscall.SIGINT, 15*time.Second) {
				c.logf("consul agent %s did not stop in 15s and was killed", n.Name)
			}
		}
	}
	if killed := sweep(ctx, c.StateDir, c.bins(), allocs); len(killed) > 0 {
		errs = append(errs, fmt.Errorf("processes still running after the agents stopped were killed: %s", strings.Join(killed, ", ")))
	}
	if err := unmountAll(c.StateDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(allocs); err != nil {
		errs = append(errs, err)
	}
	for _, n := range c.Nodes {
		if bound := boundAgentPorts(n.IP); len(bound) > 0 {
			errs = append(errs, fmt.Errorf("ports %v on %s are still bound after the agents stopped", bound, n.IP))
		}
	}
	addressPlan{Slot: c.Slot}.tearDown(len(c.Nodes), c.StateDir)
	if len(errs) > 0 {
		// Keep the state (and the allocation list in Nomad's data) so that
		// another Down can finish the job.
		return errors.Join(errs...)
	}
	for _, n := range c.Nodes {
		if err := os.RemoveAll(n.NomadDataDir()); err != nil {
			errs = append(errs, fmt.Errorf("remove Nomad data: %w", err))
		}
	}
	if c.PluginDir != "" {
		if err := os.RemoveAll(c.PluginDir); err != nil {
			errs = append(errs, fmt.Errorf("remove the plugins' sockets: %w", err))
		}
	}
	if err := os.Remove(filepath.Join(c.StateDir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RemoveState deletes the state directory: volumes (chain data, database)
// and logs. Only after Down.
func (c *Cluster) RemoveState() error {
	if c.Running() {
		return fmt.Errorf("the cluster in %s is running; stop it first", c.StateDir)
	}
	if err := unmountAll(c.StateDir); err != nil {
		return err
	}
	return os.RemoveAll(c.StateDir)
}

// allocIDs lists the allocations the cluster's clients ever ran, from
// their allocation directories.
func (c *Cluster) allocIDs() []string {
	var ids []string
	for _, n := range c.Nodes {
		ids = append(ids, n.allocIDs()...)
	}
	return ids
}

// allocIDs lists the allocations whose directories are in the node's
// Nomad data directory.
func (n Node) allocIDs() []string {
	var ids []string
	entries, _ := os.ReadDir(filepath.Join(n.NomadDataDir(), "alloc"))
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// stopJobs deregisters every job and waits, following allocations with
// blocking queries, until none is running.
func (c *Cluster) stopJobs(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nomad, err := c.NomadClient()
	if err != nil {
		return err
	}
	all := (&nomadapi.QueryOptions{Namespace: "*"}).WithContext(ctx)
	jobs, _, err := nomad.Jobs().List(all)
	if err != nil {
		return fmt.Errorf("list jobs to stop: %w", err)
	}
	for _, j := range jobs {
		w := (&nomadapi.WriteOptions{Namespace: j.Namespace}).WithContext(ctx)
		// Not purged: a purged job's allocations drop out of the list
		// below before their tasks have stopped.
		if _, _, err := nomad.Jobs().Deregister(j.ID, false, w); err != nil {
			return fmt.Errorf("stop job %q: %w", j.ID, err)
		}
		c.logf("stopped job %s", j.ID)
	}
	var index uint64
	for {
		q := (&nomadapi.QueryOptions{Namespace: "*", WaitIndex: index, WaitTime: 5 * time.Second}).WithContext(ctx)
		allocs, meta, err := nomad.Allocations().List(q)
		if err != nil {
			return fmt.Errorf("wait for allocations to stop: %w", err)
		}
		var running []string
		for _, a := range allocs {
			if a.ClientStatus == "pending" || a.ClientStatus == "running" {
				running = append(running, a.Name)
			}
		}
		if len(running) == 0 {
			return nil
		}
		index = meta.LastIndex
	}
}

// Status describes the cluster in a few lines.
func (c *Cluster) Status() string {
	var b bytes.Buffer
	state := "stopped"
	if c.Running() {
		state = "running"
	}
	fmt.Fprintf(&b, "dev cluster in %s: %s\n", c.StateDir, state)
	fmt.Fprintf(&b, "  NOMAD_ADDR=%s\n  CONSUL_HTTP_ADDR=%s\n", c.NomadAddr(), c.ConsulAddr())
	for _, n := range c.Nodes {
		role := "client"
		switch {
		case n.Server && n.Client != nil:
			role = "server and client"
		case n.Server:
			role = "server"
		}
		fmt.Fprintf(&b, "  node %s (%s) on %s (%s): nomad pid %d\n", n.Name, role, n.IP, n.Interface, n.NomadPID)
		names := make([]string, 0, len(n.Volumes))
		for name := range n.Volumes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(&b, "    host volume %s: %s\n", name, n.Volumes[name])
		}
	}
	return b.String()
}

// canRunTasks says a node can take the pool's tasks: ready, with a
// healthy exec driver, and with its Consul agent fingerprinted (jobs with
// Consul services are placed only there). A node registers as ready
// before its drivers are fingerprinted, and the scheduler then finds it
// ineligible.
func canRunTasks(ctx context.Context, nomad *nomadapi.Client, n *nomadapi.NodeListStub) bool {
	if n.Status != "ready" || n.Drivers["exec"] == nil || !n.Drivers["exec"].Healthy {
		return false
	}
	node, _, err := nomad.Nodes().Info(n.ID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	return err == nil && node.Attributes["consul.version"] != ""
}

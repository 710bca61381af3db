// Package cluster runs local clusters of real Nomad and Consul agents: the
// operator's dev cluster (`poolctl dev up`) and the clusters the tests start.
// It keeps everything under one state directory, starts agents in their own
// sessions, and on Down stops the jobs first, then the agents, and leaves no
// process, mount, cgroup, interface or bound port behind.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Volume is a host volume the cluster's client offers, owned by the user
// the tasks that mount it run as.
type Volume struct {
	Name  string
	Owner string
}

// Spec describes a cluster to start.
type Spec struct {
	StateDir string
	// Slot picks the cluster's addresses: 0 is the operator's dev cluster on
	// 127.0.0.1; -1 takes the first free slot from 1 up (tests).
	Slot       int
	Datacenter string
	Region     string
	// Node shape overrides (0: what the machine has).
	NodeCPUMHz       int
	NodeMemoryMB     int
	ReservedCPUMHz   int
	ReservedMemoryMB int
	Volumes          []Volume
	// Poolctl is the poolctl binary to offer tasks, at PoolctlDir inside
	// their chroot (the directory of the pool's poolctl setting).
	Poolctl    string
	PoolctlDir string
	NomadBin   string
	ConsulBin  string
	// Log receives progress lines.
	Log io.Writer
}

type nodeSpec struct {
	Name         string
	IP           string
	Interface    string
	NomadDataDir string
	CgroupParent string
	Volumes      map[string]string
	NomadPID     int
	ConsulPID    int
}

// Cluster is a running (or stopped) local cluster, as saved in its state
// directory.
type Cluster struct {
	StateDir         string
	Slot             int
	Datacenter       string
	Region           string
	NodeCPUMHz       int
	NodeMemoryMB     int
	ReservedCPUMHz   int
	ReservedMemoryMB int
	PoolctlDir       string
	NomadBin         string
	ConsulBin        string
	Nodes            []nodeSpec

	log io.Writer
}

const stateFile = "cluster.json"

// NomadAddr is the Nomad HTTP API address, as NOMAD_ADDR takes it.
func (c *Cluster) NomadAddr() string {
	return fmt.Sprintf("http://%s:%d", c.Nodes[0].IP, NomadHTTPPort)
}

// ConsulAddr is the Consul HTTP API address, as CONSUL_HTTP_ADDR takes it.
func (c *Cluster) ConsulAddr() string {
	return fmt.Sprintf("%s:%d", c.Nodes[0].IP, ConsulHTTPPort)
}

// VolumePath is where host volume name of node i lives on the machine.
func (c *Cluster) VolumePath(i int, name string) string { return c.Nodes[i].Volumes[name] }

func (c *Cluster) binDir() string { return filepath.Join(c.StateDir, "bin") }

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.StateDir, stateFile+".new")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.StateDir, stateFile))
}

// ErrNoCluster is returned by Load when the state directory holds none.
var ErrNoCluster = errors.New("no dev cluster in this state directory")

// Load reads the cluster saved in stateDir.
func Load(stateDir string, log io.Writer) (*Cluster, error) {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(abs, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", abs, ErrNoCluster)
	}
	if err != nil {
		return nil, err
	}
	c := &Cluster{log: log}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(abs, stateFile), err)
	}
	return c, nil
}

// Running tells whether every agent process of the cluster is alive.
func (c *Cluster) Running() bool {
	for _, n := range c.Nodes {
		if !ours(n.NomadPID, c.StateDir, c.bins()) || !ours(n.ConsulPID, c.StateDir, c.bins()) {
			return false
		}
	}
	return len(c.Nodes) > 0
}

func (c *Cluster) bins() []string { return []string{c.NomadBin, c.ConsulBin} }

func (c *Cluster) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, format+"\n", args...)
	}
}

// Up starts a one-node cluster (server and client on one agent each) and
// waits until Nomad has a leader and a ready client with the exec driver,
// and Consul has a leader. On failure it cleans up what it started.
func Up(ctx context.Context, spec Spec) (*Cluster, error) {
	stateDir, err := filepath.Abs(spec.StateDir)
	if err != nil {
		return nil, err
	}
	if old, err := Load(stateDir, spec.Log); err == nil && old.Running() {
		return nil, fmt.Errorf("a cluster is already running in %s (Nomad at %s); run `poolctl dev down` first", stateDir, old.NomadAddr())
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a dev cluster needs root: Nomad's exec driver isolates tasks with chroots, namespaces and cgroups")
	}
	c := &Cluster{
		StateDir: stateDir, Datacenter: spec.Datacenter, Region: spec.Region,
		NodeCPUMHz: spec.NodeCPUMHz, NodeMemoryMB: spec.NodeMemoryMB,
		ReservedCPUMHz: spec.ReservedCPUMHz, ReservedMemoryMB: spec.ReservedMemoryMB,
		PoolctlDir: spec.PoolctlDir, NomadBin: spec.NomadBin, ConsulBin: spec.ConsulBin,
		log: spec.Log,
	}
	if c.Datacenter == "" {
		c.Datacenter = "dc1"
	}
	if c.Region == "" {
		c.Region = "global"
	}
	const nodes = 1
	plan, err := claimSlot(spec.Slot, nodes)
	if err != nil {
		return nil, err
	}
	c.Slot = plan.Slot
	for i := 0; i < nodes; i++ {
		c.Nodes = append(c.Nodes, nodeSpec{
			Name:         fmt.Sprintf("dev-%d", i+1),
			IP:           plan.IP(nodes, i),
			Interface:    plan.Interface(nodes, i),
			NomadDataDir: filepath.Join(stateDir, fmt.Sprintf("node-%d", i+1), "nomad"),
			CgroupParent: fmt.Sprintf("poolctl-%d-%d", c.Slot, i+1),
			Volumes:      map[string]string{},
		})
	}
	if err := c.start(ctx, spec); err != nil {
		if downErr := c.Down(context.WithoutCancel(ctx)); downErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", downErr))
		}
		return nil, err
	}
	return c, nil
}

func claimSlot(slot, nodes int) (addressPlan, error) {
	if slot >= 0 {
		p := addressPlan{Slot: slot}
		if err := p.setUp(nodes); err != nil {
			if errors.Is(err, errSlotTaken) {
				return p, fmt.Errorf("the addresses of slot %d are taken (interface %s exists): another cluster runs there", slot, p.Interface(nodes, 0))
			}
			return p, err
		}
		return p, nil
	}
	for s := 1; s < 255; s++ {
		p := addressPlan{Slot: s}
		err := p.setUp(nodes)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errSlotTaken) {
			return p, err
		}
	}
	return addressPlan{}, errors.New("no free cluster slot (interfaces pcl1n0..pcl254n0 all exist); remove stale ones with `ip link del`")
}

func (c *Cluster) start(ctx context.Context, spec Spec) error {
	for i := range c.Nodes {
		if err := os.RemoveAll(c.Nodes[i].NomadDataDir); err != nil {
			return fmt.Errorf("clear old Nomad state: %w", err)
		}
	}
	if err := os.MkdirAll(c.binDir(), 0o755); err != nil {
		return err
	}
	if spec.Poolctl != "" {
		if err := installFile(spec.Poolctl, filepath.Join(c.binDir(), "poolctl")); err != nil {
			return fmt.Errorf("install poolctl for tasks: %w", err)
		}
	}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		dir := filepath.Dir(n.NomadDataDir)
		for _, v := range spec.Volumes {
			p := filepath.Join(c.StateDir, "volumes", n.Name, v.Name)
			if err := makeVolume(p, v.Owner); err != nil {
				return fmt.Errorf("host volume %q: %w", v.Name, err)
			}
			n.Volumes[v.Name] = p
		}
		if err := os.MkdirAll(n.NomadDataDir, 0o755); err != nil {
			return err
		}
		consulHCL := filepath.Join(dir, "consul.hcl")
		nomadHCL := filepath.Join(dir, "nomad.hcl")
		if err := os.WriteFile(consulHCL, consulConfig(*n, c), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(nomadHCL, nomadConfig(*n, c), 0o644); err != nil {
			return err
		}
		if err := c.save(); err != nil {
			return err
		}
		pid, err := startAgent(c.ConsulBin, []string{"agent", "-dev", "-config-file", consulHCL}, filepath.Join(dir, "consul.log"))
		if err != nil {
			return err
		}
		n.ConsulPID = pid
		if err := c.save(); err != nil {
			return err
		}
		c.logf("consul agent %s started (pid %d), API at %s", n.Name, pid, c.ConsulAddr())
		pid, err = startAgent(c.NomadBin, []string{"agent", "-config", nomadHCL}, filepath.Join(dir, "nomad.log"))
		if err != nil {
			return err
		}
		n.NomadPID = pid
		if err := c.save(); err != nil {
			return err
		}
		c.logf("nomad agent %s started (pid %d), API at %s", n.Name, pid, c.NomadAddr())
	}
	return c.waitReady(ctx, 2*time.Minute)
}

// installFile copies src to dst (executable). A copy, not a link: the
// dev cluster keeps working while poolctl is rebuilt.
func installFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func makeVolume(path, owner string) error {
	if err := os.MkdirAll(path, 0o750); err != nil {
		return err
	}
	if owner == "" {
		return nil
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return fmt.Errorf("its tasks run as user %q, which this machine lacks (for postgres: install the postgresql package): %w", owner, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Tasks see the volume bind-mounted into their chroot, so only the
	// directory's own owner and mode matter, not its parents'.
	return os.Chown(path, uid, gid)
}

// portsFree lists the agent ports still bound on a node's address.
func portsFree(ip string) []int {
	var bound []int
	for _, p := range AllPorts {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				bound = append(bound, p)
			}
			continue
		}
		l.Close()
	}
	return bound
}

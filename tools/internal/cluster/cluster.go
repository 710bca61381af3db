// Package cluster runs local clusters of real Nomad and Consul agents: the
// operator's dev cluster (`poolctl dev up`) and the clusters the tests start.
// It keeps everything under one state directory, starts agents in their own
// sessions, and on Down stops the jobs first, then the agents, and leaves no
// process, mount, cgroup, interface or bound port behind.
package cluster

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Volume is a host volume a client offers, owned by the user the tasks
// that mount it run as.
type Volume struct {
	Name  string
	Owner string
}

// Client is the shape of one Nomad client: the CPU and memory it reports
// (0: what the machine has), what it keeps for the OS and agents, and its
// host volumes.
type Client struct {
	Name             string
	CPUMHz           int
	MemoryMB         int
	ReservedCPUMHz   int
	ReservedMemoryMB int
	Volumes          []Volume
	// MinDynamicPort and MaxDynamicPort narrow the ports Nomad hands out
	// (0: Nomad's default range).
	MinDynamicPort int
	MaxDynamicPort int
}

// Spec describes a cluster to start.
type Spec struct {
	StateDir string
	// Slot picks the cluster's addresses: 0 is the operator's dev cluster on
	// 127.0.0.1; -1 takes the first free slot from 1 up (tests).
	Slot       int
	Datacenter string
	Region     string
	// Clients are the Nomad clients, one agent each. With Servers 0 the
	// first client runs the Nomad server too; otherwise Servers
	// server-only agents come first (so that every client is shaped alike,
	// as in placement tests, and a client can lose power while the servers
	// keep a quorum).
	Clients []Client
	Servers int
	// Production shapes the cluster as ansible/ shapes the Pis: the
	// first Servers clients are Nomad and Consul servers too (no
	// server-only agents), every Consul agent keeps its state on disk (no
	// dev mode), and the agents carry the settings the roles give them for
	// power cuts (see PiAgentSettings). Servers must be 3 or 5.
	Production bool
	// DefaultAgentSettings, with Production, leaves the power-cut settings
	// at Nomad's and Consul's defaults: the baseline they are measured
	// against.
	DefaultAgentSettings bool
	// ACL turns Nomad's ACL system on and bootstraps it; the management
	// token stays in the state directory (mode 0600) for the cluster's own
	// calls, and every request without a token is refused, as on the
	// provisioned Pis.
	ACL bool
	// Poolctl is the poolctl binary to offer tasks, at PoolctlDir inside
	// their chroot (the directory of the pool's poolctl setting).
	Poolctl    string
	PoolctlDir string
	NomadBin   string
	ConsulBin  string
	// Log receives progress lines.
	Log io.Writer
}

// Node is one agent of the cluster, as saved in its state directory.
type Node struct {
	Name      string
	Server    bool
	Client    *Client
	IP        string
	Interface string
	Dir       string
	Volumes   map[string]string
	NomadPID  int
	// ConsulPID is the node's own Consul agent: every Nomad agent talks to
	// the Consul agent of its node, as on the Pis (Nomad clients take the
	// services they do not know off their agent, so two must not share
	// one). The first node's agent is the Consul server, in dev mode.
	ConsulPID int
	// Off is set while the node has no power (PowerCut, Shutdown) until
	// it boots again.
	Off bool `json:",omitempty"`
}

// Powered says the node has power.
func (n Node) Powered() bool { return !n.Off }

// NomadDataDir is the node's Nomad data directory.
func (n Node) NomadDataDir() string { return filepath.Join(n.Dir, "nomad") }

// Cluster is a running (or stopped) local cluster, as saved in its state
// directory.
type Cluster struct {
	StateDir   string
	Slot       int
	Datacenter string
	Region     string
	PoolctlDir string
	NomadBin   string
	ConsulBin  string
	ACL        bool
	// Production and DefaultAgentSettings are the Spec's.
	Production           bool `json:",omitempty"`
	DefaultAgentSettings bool `json:",omitempty"`
	// NomadToken is the management token of an ACL cluster, from the
	// bootstrap; the cluster's own calls (readiness, stopping jobs) use it.
	NomadToken string `json:"-"`
	// PluginDir holds, a directory per node, the Unix sockets of the
	// plugin processes (logmon, executors) the node's Nomad agent starts
	// (go-plugin's PLUGIN_UNIX_SOCKET_DIR). A killed plugin leaves its
	// socket behind; here a power cut's reboot and Down remove them, where
	// in the machine's temporary directory they piled up. It is short
	// (sockets' paths are limited to 108 bytes), and outside StateDir,
	// whose path can be long.
	PluginDir string `json:",omitempty"`
	Nodes     []Node

	log io.Writer
}

const (
	stateFile = "cluster.json"
	tokenFile = "nomad-management-token"
)

// NomadAddr is the Nomad HTTP API address of the server, as NOMAD_ADDR
// takes it: the first node's, or in a production-shaped cluster whose
// first node has no power, the first powered server's.
func (c *Cluster) NomadAddr() string {
	return fmt.Sprintf("http://%s:%d", c.apiNode().IP, NomadHTTPPort)
}

// apiNode is the node whose agents the cluster's own calls go to.
func (c *Cluster) apiNode() Node {
	if c.Production {
		for _, n := range c.Nodes {
			if n.Server && n.Powered() {
				return n
			}
		}
	}
	return c.Nodes[0]
}

// Servers lists the nodes that run a Nomad server.
func (c *Cluster) Servers() []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Server {
			out = append(out, n)
		}
	}
	return out
}

// Clients lists the nodes that run a Nomad client.
func (c *Cluster) Clients() []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Client != nil {
			out = append(out, n)
		}
	}
	return out
}

// ConsulAddr is the Consul HTTP API address, as CONSUL_HTTP_ADDR takes it.
func (c *Cluster) ConsulAddr() string {
	return fmt.Sprintf("%s:%d", c.apiNode().IP, ConsulHTTPPort)
}

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
	if len(c.Nodes) == 0 || c.StateDir != abs {
		return nil, fmt.Errorf("%s does not describe a cluster in %s; remove it", filepath.Join(abs, stateFile), abs)
	}
	if c.ACL {
		token, err := os.ReadFile(filepath.Join(abs, tokenFile))
		if err != nil {
			return nil, fmt.Errorf("read the cluster's management token: %w", err)
		}
		c.NomadToken = strings.TrimSpace(string(token))
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

// Up starts the cluster and waits until Nomad has a leader and every
// client is ready with the exec driver, and Consul has a leader. On failure
// it cleans up what it started.
func Up(ctx context.Context, spec Spec) (*Cluster, error) {
	stateDir, err := filepath.Abs(spec.StateDir)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a dev cluster needs root: Nomad's exec driver isolates tasks with chroots, namespaces and cgroups")
	}
	if old, err := Load(stateDir, spec.Log); err == nil {
		if old.Running() {
			return nil, fmt.Errorf("a cluster is already running in %s (Nomad at %s); run `poolctl dev down` first", stateDir, old.NomadAddr())
		}
		// A cluster that died without Down may have left tasks, mounts and
		// interfaces; its Nomad data (the allocation list the sweep needs)
		// is about to be wiped, so clean up first.
		if err := old.Down(ctx); err != nil {
			return nil, fmt.Errorf("clean up the previous cluster in %s: %w", stateDir, err)
		}
	}
	nomadBin, err := resolved(spec.NomadBin)
	if err != nil {
		return nil, err
	}
	consulBin, err := resolved(spec.ConsulBin)
	if err != nil {
		return nil, err
	}
	spec.NomadBin, spec.ConsulBin = nomadBin, consulBin
	if len(spec.Clients) == 0 {
		spec.Clients = []Client{{Name: "dev-1"}}
	}
	c := &Cluster{
		StateDir: stateDir, Datacenter: spec.Datacenter, Region: spec.Region,
		PoolctlDir: spec.PoolctlDir, NomadBin: spec.NomadBin, ConsulBin: spec.ConsulBin,
		ACL: spec.ACL, Production: spec.Production, DefaultAgentSettings: spec.DefaultAgentSettings && spec.Production,
		log: spec.Log,
	}
	if c.Datacenter == "" {
		c.Datacenter = "dc1"
	}
	if c.Region == "" {
		c.Region = "global"
	}
	if spec.Servers < 0 || spec.Servers%2 == 0 && spec.Servers > 0 {
		return nil, fmt.Errorf("a cluster has 0 (combined with the first client), 1, 3 or 5 servers, not %d", spec.Servers)
	}
	nodes, serverOnly := spec.Servers+len(spec.Clients), spec.Servers
	if spec.Production {
		if spec.Servers < 3 || len(spec.Clients) < spec.Servers {
			return nil, fmt.Errorf("a production-shaped cluster has 3 or 5 servers among at least as many clients, not %d servers and %d clients", spec.Servers, len(spec.Clients))
		}
		nodes, serverOnly = len(spec.Clients), 0
	}
	plan, err := claimSlot(spec.Slot, nodes, stateDir)
	if err != nil {
		return nil, err
	}
	c.Slot = plan.Slot
	for i := 0; i < nodes; i++ {
		n := Node{
			IP:        plan.IP(nodes, i),
			Interface: plan.Interface(nodes, i),
			Volumes:   map[string]string{},
			Server:    i < max(spec.Servers, 1),
		}
		if k := i - serverOnly; k >= 0 {
			client := spec.Clients[k]
			if client.Name == "" {
				client.Name = fmt.Sprintf("dev-%d", k+1)
			}
			n.Client, n.Name = &client, client.Name
		} else {
			n.Name = fmt.Sprintf("server-%d", i+1)
		}
		n.Dir = filepath.Join(stateDir, n.Name)
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.start(ctx, spec); err != nil {
		if downErr := c.Down(context.WithoutCancel(ctx)); downErr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", downErr))
		}
		return nil, err
	}
	return c, nil
}

func claimSlot(slot, nodes int, owner string) (addressPlan, error) {
	if slot >= 0 {
		p := addressPlan{Slot: slot}
		if err := p.setUp(nodes, owner); err != nil {
			if errors.Is(err, errSlotTaken) {
				return p, fmt.Errorf("the addresses of slot %d are taken (interface %s exists): another cluster runs there", slot, p.Interface(nodes, 0))
			}
			return p, err
		}
		return p, nil
	}
	for s := 1; s < 255; s++ {
		p := addressPlan{Slot: s}
		err := p.setUp(nodes, owner)
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
	dir, err := os.MkdirTemp("", "poolctl-plugins-")
	if err != nil {
		return err
	}
	c.PluginDir = dir
	for _, n := range c.Nodes {
		if err := os.RemoveAll(n.NomadDataDir()); err != nil {
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
		if n.Client != nil {
			for _, v := range n.Client.Volumes {
				p := filepath.Join(c.StateDir, "volumes", n.Name, v.Name)
				if err := makeVolume(p, v.Owner); err != nil {
					return fmt.Errorf("host volume %q: %w", v.Name, err)
				}
				n.Volumes[v.Name] = p
			}
		}
		if err := os.MkdirAll(n.NomadDataDir(), 0o755); err != nil {
			return err
		}
		if err := c.startConsul(n); err != nil {
			return err
		}
		nomadHCL := filepath.Join(n.Dir, "nomad.hcl")
		if err := os.WriteFile(nomadHCL, nomadConfig(*n, c), 0o644); err != nil {
			return err
		}
		pid, err := c.startNomad(n)
		if err != nil {
			return err
		}
		n.NomadPID = pid
		if err := c.save(); err != nil {
			return err
		}
		c.logf("nomad agent %s started on %s (pid %d)", n.Name, n.IP, pid)
	}
	c.logf("nomad API at %s", c.NomadAddr())
	return c.waitReady(ctx, 2*time.Minute)
}

// startNomad starts the node's Nomad agent with its configuration as
// written, its plugins' sockets in the node's directory of PluginDir.
func (c *Cluster) startNomad(n *Node) (int, error) {
	var env []string
	if c.PluginDir != "" {
		dir := filepath.Join(c.PluginDir, n.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, err
		}
		env = append(env, "PLUGIN_UNIX_SOCKET_DIR="+dir)
	}
	return startAgent(c.NomadBin, []string{"agent", "-config", filepath.Join(n.Dir, "nomad.hcl")}, filepath.Join(n.Dir, "nomad.log"), env)
}

// clearPluginSockets removes the sockets the node's killed plugins left:
// a reboot ends every process, and their sockets with them.
func (c *Cluster) clearPluginSockets(n *Node) error {
	if c.PluginDir == "" {
		return nil
	}
	return os.RemoveAll(filepath.Join(c.PluginDir, n.Name))
}

// consulServer says whether the node runs a Consul server: every Nomad
// server's node in a production-shaped cluster, else the first node only
// (in dev mode).
func (c *Cluster) consulServer(n *Node) bool {
	if c.Production {
		return n.Server
	}
	return n.Name == c.Nodes[0].Name
}

// startConsul starts the node's Consul agent: a server or a client joining
// the servers (consulServer), with the state it left on disk when it
// comes back after a power cut; in a dev-shaped cluster, the server is in
// dev mode and keeps nothing.
func (c *Cluster) startConsul(n *Node) error {
	server := c.consulServer(n)
	consulHCL := filepath.Join(n.Dir, "consul.hcl")
	if err := os.WriteFile(consulHCL, consulConfig(*n, c, server), 0o644); err != nil {
		return err
	}
	args := []string{"agent", "-config-file", consulHCL}
	if server && !c.Production {
		args = []string{"agent", "-dev", "-config-file", consulHCL}
	}
	pid, err := startAgent(c.ConsulBin, args, filepath.Join(n.Dir, "consul.log"), nil)
	if err != nil {
		return err
	}
	n.ConsulPID = pid
	if err := c.save(); err != nil {
		return err
	}
	c.logf("consul agent %s started on %s (pid %d)", n.Name, n.IP, pid)
	return nil
}

// resolved is bin as /proc/<pid>/exe will show it: absolute, with
// symlinks resolved, so that the cluster recognizes its agents.
func resolved(bin string) (string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", bin, err)
	}
	return real, nil
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

// ListeningPorts lists the TCP ports something listens on at exactly ip,
// from /proc/net/tcp: a probe by connecting would be answered by whatever
// the default route leads to once the address is gone. Wildcard listeners
// belong to the machine, not to a cluster, and are not counted.
func ListeningPorts(ip string) []int {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil
	}
	want := net.ParseIP(ip).To4()
	var ports []int
	for _, line := range strings.Split(string(data), "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		hostHex, portHex, ok := strings.Cut(fields[1], ":")
		if !ok || len(hostHex) != 8 {
			continue
		}
		raw, err := hex.DecodeString(hostHex)
		if err != nil {
			continue
		}
		// /proc/net/tcp prints the address in host (little-endian) order.
		addr := net.IPv4(raw[3], raw[2], raw[1], raw[0])
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			continue
		}
		if addr.Equal(want) {
			ports = append(ports, int(port))
		}
	}
	return ports
}

// boundAgentPorts lists the agent ports still listened on at ip.
func boundAgentPorts(ip string) []int {
	var bound []int
	for _, p := range ListeningPorts(ip) {
		if slices.Contains(AllPorts, p) {
			bound = append(bound, p)
		}
	}
	return bound
}

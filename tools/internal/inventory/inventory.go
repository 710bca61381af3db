// Package inventory turns a pool definition's cluster model into an Ansible
// inventory for the provisioning playbooks in ansible/: which nodes are
// Nomad and Consul servers, which host volumes each node holds (where the
// capacity model puts them), each node's reservation, and the pool-wide
// facts the firewall and the pool role need (LAN, stratum ports).
//
// The output is YAML written by hand from a fixed shape, so that it reads
// well, is stable for golden files and passes yamllint.
package inventory

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/capacity"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// Node is one host of the inventory.
type Node struct {
	Name             string
	Server           bool
	ReservedCPUMHz   int
	ReservedMemoryMB int
	// Volumes are the host volumes the node holds, by name, with the user
	// the jobs mount them as.
	Volumes []Volume
}

// Volume is a host volume a node holds.
type Volume struct {
	Name  string
	Owner string
}

// Inventory is what the playbooks need to know about a pool's cluster.
type Inventory struct {
	Source       string
	Pool         string
	Datacenter   string
	Region       string
	Poolctl      string
	LAN          []string
	StratumPorts []int
	// WebPorts are the web servers' ports, open to the LAN.
	WebPorts []int
	// FloatingAddress is the pool's floating address ("" for none), with
	// its LAN network's prefix length, and the stratum services whose
	// checks decide which node holds it.
	FloatingAddress  string
	FloatingPrefix   int
	FloatingServices []string
	Nodes            []Node
}

// Build derives the inventory from a validated pool and its rendered jobs.
func Build(source string, p *config.Pool, jobs []*jobspec.Job) *Inventory {
	inv := &Inventory{
		Source:     source,
		Pool:       p.Name,
		Datacenter: p.Settings.Datacenter,
		Region:     p.Settings.Region,
		Poolctl:    p.Settings.Poolctl,
		LAN:        append([]string(nil), p.Cluster.LAN...),
	}
	for _, c := range p.Coins {
		if c.Stratum != nil {
			inv.StratumPorts = append(inv.StratumPorts, c.Stratum.Port)
			inv.FloatingServices = append(inv.FloatingServices, contract.StratumService(c.Name))
		}
	}
	sort.Ints(inv.StratumPorts)
	if p.Web != nil {
		inv.WebPorts = []int{p.Web.Port}
	}
	if prefix, ok := config.FloatingPrefix(p.Cluster); ok {
		inv.FloatingAddress, inv.FloatingPrefix = prefix.Addr().String(), prefix.Bits()
	} else {
		inv.FloatingServices = nil
	}
	owners := jobspec.VolumeOwners(jobs)
	cl := p.Cluster
	for _, n := range capacity.Nodes(cl) {
		node := Node{
			Name:             n.Name,
			Server:           n.Server,
			ReservedCPUMHz:   cl.NodeCPUMHz - n.CPUMHz,
			ReservedMemoryMB: cl.NodeMemoryMB - n.MemoryMB,
		}
		for v := range n.Volumes {
			owner := owners[v]
			if owner == "" {
				owner = "nobody"
			}
			node.Volumes = append(node.Volumes, Volume{Name: v, Owner: owner})
		}
		sort.Slice(node.Volumes, func(a, b int) bool { return node.Volumes[a].Name < node.Volumes[b].Name })
		inv.Nodes = append(inv.Nodes, node)
	}
	return inv
}

// YAML renders the inventory as an Ansible YAML inventory.
func (inv *Inventory) YAML() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("---\n")
	w("# Generated from %s by poolctl inventory; do not edit.\n", inv.Source)
	w("# Regenerate it after changing the cluster block there (a test fails\n")
	w("# when it is stale). Per-node settings (addresses, SSH users) belong\n")
	w("# in host_vars/, not here.\n")
	w("all:\n")
	w("  vars:\n")
	w("    pool_name: %s\n", quote(inv.Pool))
	w("    pool_datacenter: %s\n", quote(inv.Datacenter))
	w("    pool_region: %s\n", quote(inv.Region))
	w("    pool_poolctl_path: %s\n", quote(inv.Poolctl))
	w("    pool_lan: %s\n", flowStrings(inv.LAN))
	w("    pool_stratum_ports: %s\n", flowInts(inv.StratumPorts))
	w("    pool_web_ports: %s\n", flowInts(inv.WebPorts))
	w("    pool_floating_address: %s\n", quote(inv.FloatingAddress))
	w("    pool_floating_address_prefix: %d\n", inv.FloatingPrefix)
	w("    pool_floating_address_services: %s\n", flowStrings(inv.FloatingServices))
	w("  children:\n")
	w("    servers:\n")
	w("      hosts:\n")
	for _, n := range inv.Nodes {
		if n.Server {
			w("        %s: {}\n", n.Name)
		}
	}
	w("    clients:\n")
	w("      hosts:\n")
	for _, n := range inv.Nodes {
		w("        %s:\n", n.Name)
		w("          nomad_client_reserved_cpu: %d\n", n.ReservedCPUMHz)
		w("          nomad_client_reserved_memory: %d\n", n.ReservedMemoryMB)
		if len(n.Volumes) == 0 {
			w("          nomad_client_host_volumes: []\n")
			continue
		}
		w("          nomad_client_host_volumes:\n")
		for _, v := range n.Volumes {
			w("            - {name: %s, owner: %s}\n", quote(v.Name), quote(v.Owner))
		}
	}
	return b.Bytes()
}

func quote(s string) string { return strconv.Quote(s) }

func flowStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func flowInts(is []int) string {
	q := make([]string, len(is))
	for i, n := range is {
		q[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Each node of a local cluster needs an address of its own, on an interface
// that holds only that address: Nomad gives tasks every address of its
// network_interface, and a second address would let two "nodes" share a
// static port and hide the conflicts a real cluster has. The operator's
// one-node dev cluster (slot 0) uses lo and 127.0.0.1, which holds just that
// address. Test clusters and multi-node clusters get a veth pair per node,
// with one address from 198.18.0.0/15 (RFC 2544, never routed) on one end;
// traffic to a local address never leaves the machine, and each cluster's
// slot keeps its agents and tasks apart from every other cluster's.

// addressPlan says where node i of a cluster in slot listens.
type addressPlan struct {
	Slot int
}

func (p addressPlan) loopbackOnly(nodes int) bool { return p.Slot == 0 && nodes == 1 }

// Interface is the network interface node i uses.
func (p addressPlan) Interface(nodes, i int) string {
	if p.loopbackOnly(nodes) {
		return "lo"
	}
	return fmt.Sprintf("pcl%dn%d", p.Slot, i)
}

// IP is node i's address.
func (p addressPlan) IP(nodes, i int) string {
	if p.loopbackOnly(nodes) {
		return "127.0.0.1"
	}
	return fmt.Sprintf("198.18.%d.%d", p.Slot, i+1)
}

// errSlotTaken says another cluster holds the slot's first interface.
var errSlotTaken = errors.New("slot taken")

// setUp creates the veth pairs of the plan. Creating the first one is what
// claims the slot, atomically, against other clusters starting at once.
func (p addressPlan) setUp(nodes int, owner string) error {
	if p.loopbackOnly(nodes) {
		return nil
	}
	for i := 0; i < nodes; i++ {
		name := p.Interface(nodes, i)
		if out, err := exec.Command("ip", "link", "add", name, "type", "veth", "peer", "name", name+"p").CombinedOutput(); err != nil {
			if i == 0 && strings.Contains(string(out), "File exists") {
				return errSlotTaken
			}
			p.tearDown(nodes, owner)
			return fmt.Errorf("create interface %s (needs root and iproute2): %s", name, strings.TrimSpace(string(out)))
		}
		for _, args := range [][]string{
			// The alias says which cluster owns the interface, so that a
			// Down never removes another cluster's.
			{"link", "set", name, "alias", owner},
			{"addr", "add", p.IP(nodes, i) + "/32", "dev", name},
			{"link", "set", name, "up"},
			{"link", "set", name + "p", "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				p.tearDown(nodes, owner)
				return fmt.Errorf("ip %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
			}
		}
	}
	return nil
}

// tearDown deletes the veth pairs of the plan that owner holds; deleting
// one end deletes its peer. Missing interfaces are fine: Down may run
// twice. An interface another cluster has claimed since is left alone.
func (p addressPlan) tearDown(nodes int, owner string) {
	if p.loopbackOnly(nodes) {
		return
	}
	for i := 0; i < nodes; i++ {
		name := p.Interface(nodes, i)
		alias, err := os.ReadFile("/sys/class/net/" + name + "/ifalias")
		if err != nil || strings.TrimSpace(string(alias)) != owner {
			continue
		}
		_ = unsilence(name)
		_ = exec.Command("ip", "link", "del", name).Run()
	}
}

// A powered-off machine's address answers nothing: a peer's connect waits
// for a SYN-ACK that never comes, and an open connection goes quiet. A
// killed process on a live address would instead be refused at once, which
// makes every figure taken after a "power cut" optimistic. So a node whose
// power is off has its address silenced: an nftables table of its own
// drops, at the input hook, every packet to or from that address (packets
// between local addresses cross the input hook too). Dropping at the input
// hook, not the output one, matters: a packet dropped on output fails the
// sender's send at once (EPERM), which is not silence either.

// cutTable is the nftables table that silences a node's interface.
func cutTable(iface string) string { return "pcl_cut_" + iface }

// silence makes ip, a node's address on iface, stop answering.
func silence(iface, ip string) error {
	if iface == "lo" {
		return fmt.Errorf("the node on %s shares the machine's loopback address; only a node with an interface of its own can lose power", ip)
	}
	rules := fmt.Sprintf(`table inet %s {
	chain input {
		type filter hook input priority -10; policy accept;
		ip daddr %s drop
		ip saddr %s drop
	}
}
`, cutTable(iface), ip, ip)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("silence %s (needs root and nftables): %v: %s", ip, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// unsilence lets a node's address answer again; one that was never
// silenced is fine.
func unsilence(iface string) error {
	out, err := exec.Command("nft", "delete", "table", "inet", cutTable(iface)).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("unsilence %s: %v: %s", iface, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Addresses are node addresses claimed as a cluster's (a veth pair per
// node, one address each) for agents this package does not start: the
// provisioning tests run the agents Ansible configured, chrooted, on them.
type Addresses struct {
	plan  addressPlan
	nodes int
	owner string
}

// ClaimAddresses claims a free slot's addresses for nodes nodes, labelled
// with owner (which Release checks).
func ClaimAddresses(nodes int, owner string) (*Addresses, error) {
	p, err := claimSlot(-1, nodes, owner)
	if err != nil {
		return nil, err
	}
	return &Addresses{plan: p, nodes: nodes, owner: owner}, nil
}

// IP is node i's address.
func (a *Addresses) IP(i int) string { return a.plan.IP(a.nodes, i) }

// Interface is node i's network interface, which holds only its address.
func (a *Addresses) Interface(i int) string { return a.plan.Interface(a.nodes, i) }

// LAN is the network the addresses are in.
func (a *Addresses) LAN() string { return fmt.Sprintf("198.18.%d.0/24", a.plan.Slot) }

// Release removes the interfaces.
func (a *Addresses) Release() { a.plan.tearDown(a.nodes, a.owner) }

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
		_ = exec.Command("ip", "link", "del", name).Run()
	}
}

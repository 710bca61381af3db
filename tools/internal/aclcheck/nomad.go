// Package aclcheck tells, before anything is sent, which of the accesses
// a command needs its Nomad and Consul tokens do not have: one line per
// missing permission instead of a refusal halfway through a deployment.
package aclcheck

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// nomadRules is the part of Nomad's ACL policy language the pool's
// accesses are checked against; anything else in a policy is ignored.
type nomadRules struct {
	Namespaces  []nomadNamespace  `hcl:"namespace,block"`
	HostVolumes []nomadHostVolume `hcl:"host_volume,block"`
	Node        []nomadPolicy     `hcl:"node,block"`
	Agent       []nomadPolicy     `hcl:"agent,block"`
	Rest        hcl.Body          `hcl:",remain"`
}

type nomadNamespace struct {
	Name         string           `hcl:"name,label"`
	Policy       string           `hcl:"policy,optional"`
	Capabilities []string         `hcl:"capabilities,optional"`
	Variables    []nomadVariables `hcl:"variables,block"`
	Rest         hcl.Body         `hcl:",remain"`
}

type nomadVariables struct {
	Paths []nomadPath `hcl:"path,block"`
}

type nomadPath struct {
	Path         string   `hcl:"path,label"`
	Capabilities []string `hcl:"capabilities"`
}

type nomadHostVolume struct {
	Name         string   `hcl:"name,label"`
	Policy       string   `hcl:"policy,optional"`
	Capabilities []string `hcl:"capabilities,optional"`
}

type nomadPolicy struct {
	Policy string   `hcl:"policy"`
	Rest   hcl.Body `hcl:",remain"`
}

// Namespace capabilities Nomad's policy shorthands expand to
// (nomad/acl/policy.go, expandNamespacePolicy).
var (
	namespaceRead  = []string{"list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume", "read-job-scaling", "list-scaling-policies", "read-scaling-policy", "list-host-volume", "read-host-volume"}
	namespaceWrite = append(slices.Clone(namespaceRead), "scale-job", "submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-exec", "alloc-lifecycle", "csi-mount-volume", "csi-write-volume", "submit-recommendation", "host-volume-register", "host-volume-write", "host-volume-create")
	namespaceScale = []string{"list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job"}
)

// NomadPolicy is a parsed Nomad ACL policy.
type NomadPolicy struct {
	Name  string
	rules nomadRules
}

// ParseNomadPolicy parses a policy's rules.
func ParseNomadPolicy(name, rules string) (*NomadPolicy, error) {
	f, diags := hclsyntax.ParseConfig([]byte(rules), name+".hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("nomad policy %s: %s", name, diags.Error())
	}
	p := &NomadPolicy{Name: name}
	if diags := gohcl.DecodeBody(f.Body, nil, &p.rules); diags.HasErrors() {
		return nil, fmt.Errorf("nomad policy %s: %s", name, diags.Error())
	}
	return p, nil
}

// Allows tells whether the policies, taken together, grant a. A "deny"
// anywhere for the object wins, as in Nomad.
func NomadAllows(policies []*NomadPolicy, a contract.NomadAccess) bool {
	granted, denied := false, false
	for _, p := range policies {
		g, d := p.grants(a)
		granted, denied = granted || g, denied || d
	}
	return granted && !denied
}

func (p *NomadPolicy) grants(a contract.NomadAccess) (granted, denied bool) {
	r := p.rules
	switch a.Object {
	case contract.NomadNode, contract.NomadAgent:
		blocks := r.Node
		if a.Object == contract.NomadAgent {
			blocks = r.Agent
		}
		for _, b := range blocks {
			switch b.Policy {
			case "deny":
				denied = true
			case "write":
				granted = true
			case "read":
				granted = granted || a.Capability == contract.Read
			}
		}
	case contract.NomadHostVolume:
		var best *nomadHostVolume
		for i := range r.HostVolumes {
			if closer(r.HostVolumes[i].Name, best, func(v *nomadHostVolume) string { return v.Name }, a.Name) {
				best = &r.HostVolumes[i]
			}
		}
		if best != nil {
			caps := best.Capabilities
			switch best.Policy {
			case "write":
				caps = append(caps, "mount-readonly", "mount-readwrite")
			case "read":
				caps = append(caps, "mount-readonly")
			case "deny":
				caps = append(caps, "deny")
			}
			granted, denied = slices.Contains(caps, a.Capability), slices.Contains(caps, "deny")
		}
	case contract.NomadNamespace, contract.NomadVariable:
		ns := a.Name
		if a.Object == contract.NomadVariable {
			ns = contract.Namespace
		}
		var best *nomadNamespace
		for i := range r.Namespaces {
			if closer(r.Namespaces[i].Name, best, func(n *nomadNamespace) string { return n.Name }, ns) {
				best = &r.Namespaces[i]
			}
		}
		if best == nil {
			return false, false
		}
		if a.Object == contract.NomadVariable {
			return variableGrants(best, a)
		}
		caps := slices.Clone(best.Capabilities)
		switch best.Policy {
		case "read":
			caps = append(caps, namespaceRead...)
		case "write":
			caps = append(caps, namespaceWrite...)
		case "scale":
			caps = append(caps, namespaceScale...)
		case "deny":
			caps = append(caps, "deny")
		}
		granted, denied = slices.Contains(caps, a.Capability), slices.Contains(caps, "deny")
	}
	return granted, denied
}

// variableGrants reads a namespace's variables rules: the closest path
// pattern decides. A namespace written with the policy shorthand grants
// variables as Nomad expands it (read: read and list; write: all).
func variableGrants(ns *nomadNamespace, a contract.NomadAccess) (granted, denied bool) {
	var best *nomadPath
	for _, v := range ns.Variables {
		for i := range v.Paths {
			if closer(v.Paths[i].Path, best, func(p *nomadPath) string { return p.Path }, a.Name) {
				best = &v.Paths[i]
			}
		}
	}
	if best != nil {
		return slices.Contains(best.Capabilities, a.Capability), slices.Contains(best.Capabilities, "deny")
	}
	switch ns.Policy {
	case "write":
		return true, false
	case "read":
		return a.Capability == "read" || a.Capability == "list", false
	}
	return false, false
}

// closer tells whether pattern matches name and is closer to it than the
// current best: an exact match wins, then the glob with the longest
// literal part, as Nomad picks the most specific rule.
func closer[T any](pattern string, best *T, nameOf func(*T) string, name string) bool {
	if !globMatch(pattern, name) {
		return false
	}
	if best == nil {
		return true
	}
	cur := nameOf(best)
	if cur == name {
		return false
	}
	return pattern == name || literal(pattern) > literal(cur)
}

// globMatch is Nomad's glob: "*" matches any run of characters, "/"
// included.
func globMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	rest := name[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

func literal(pattern string) int { return len(strings.ReplaceAll(pattern, "*", "")) }

package provision

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
	"github.com/stretchr/testify/require"
)

// The per-source bounds the base role's firewall puts on the stratum ports,
// tried for real without a provisioned cluster: Ansible renders the firewall
// template alone (with small bounds, so that the test stays short), and each
// rendering is loaded into a network namespace of the test's own (the Pi)
// and dialled from several sources in a second one (the rest of the world).
// Every port tried has a listener that holds its connections open, as a
// stratum server holds a miner's, so a refused connection is the firewall's
// doing.

const (
	limitsLAN     = "192.0.2.0/24" // TEST-NET-1
	limitsPi      = "192.0.2.1"
	limitsPeer    = "192.0.2.2" // another node of the inventory, on the LAN
	limitsPi6     = "2001:db8::1"
	limitsStratum = 3333
)

// One source, another source, and for IPv6 a second address in the first
// source's /64 (which shares its bounds).
type limitsFamily struct {
	name               string
	source, sameSubnet string
	other              string
	pi                 string
	hostPrefix         string
}

var limitsFamilies = []limitsFamily{
	{name: "IPv4", source: "203.0.113.7", other: "203.0.113.8", pi: limitsPi, hostPrefix: "/32"},
	{name: "IPv6", source: "2001:db8:1::7", sameSubnet: "2001:db8:1::8", other: "2001:db8:2::7", pi: limitsPi6, hostPrefix: "/128"},
}

func (f limitsFamily) stratum() string {
	return net.JoinHostPort(f.pi, strconv.Itoa(limitsStratum))
}

func TestStratumPerSourceLimits(t *testing.T) {
	needTool(t, "nft", "nftables")
	const conns = 4
	rules := renderFirewall(t, map[string]map[string]any{
		"defaults": nil,
		"conns":    {"base_firewall_public_conns_per_source": conns},
		// A token a minute: no token comes back while the test runs, so
		// the burst is all a source gets (the test's only assumption on
		// time is the one dialFrom makes: a few dials take under a minute).
		"rate": {"base_firewall_public_new_conns_rate": "1/minute", "base_firewall_public_new_conns_burst": 3},
	})

	t.Run("defaults", func(t *testing.T) {
		// The template's validate step has loaded each rendering with
		// nft -c; here the default bounds are checked to be the ones
		// group_vars documents.
		src, err := os.ReadFile(rules["defaults"])
		require.NoError(t, err)
		var public []string
		for _, l := range strings.Split(string(src), "\n") {
			if strings.Contains(l, "@public_") {
				public = append(public, strings.TrimSpace(l))
			}
		}
		t.Logf("the rules on the public ports, with the default bounds:\n%s", strings.Join(public, "\n"))
		require.Equal(t, []string{
			"tcp dport @public_tcp ct state new update @public_new4 { ip saddr limit rate over 20/second burst 40 packets } drop",
			"tcp dport @public_tcp ct state new update @public_new6 { ip6 saddr and ffff:ffff:ffff:ffff:: limit rate over 20/second burst 40 packets } drop",
			"tcp dport @public_tcp ct state new add @public_conns4 { ip saddr ct count over 64 } drop",
			"tcp dport @public_tcp ct state new add @public_conns6 { ip6 saddr and ffff:ffff:ffff:ffff:: ct count over 64 } drop",
			"tcp dport @public_tcp accept",
		}, public)
		require.Contains(t, string(src), "size 16384")
		require.Contains(t, string(src), "flags dynamic,timeout")
	})

	t.Run("concurrent connections", func(t *testing.T) {
		ns := limitsNetns(t, "psc", rules["conns"])
		for _, f := range limitsFamilies {
			t.Run(f.name, func(t *testing.T) {
				held := holdConns(t, ns.b, f.source, f.stratum(), conns)
				requireDropped(t, ns.b, f.source, f.stratum(), "a connection over the bound")
				if f.sameSubnet != "" {
					requireDropped(t, ns.b, f.sameSubnet, f.stratum(), "another address of the same /64, which shares its bound")
				}
				holdConns(t, ns.b, f.other, f.stratum(), conns)
				requireDropped(t, ns.b, f.other, f.stratum(), "the other source's connection over its own bound")

				// The source's slots come back as its connections close.
				closeConns(t, held)
				holdConns(t, ns.b, f.source, f.stratum(), conns)
				requireDropped(t, ns.b, f.source, f.stratum(), "a connection over the bound, after the first ones closed")
			})
		}
		t.Run("other ports", func(t *testing.T) {
			stratum := limitsFamilies[0].stratum()
			holdConns(t, ns.b, limitsPeer, stratum, conns)
			requireDropped(t, ns.b, limitsPeer, stratum, "a node's connection over the bound")
			for _, p := range []int{22, 4646, 25000} { // SSH, Nomad's API, Nomad's dynamic ports
				holdConns(t, ns.b, limitsPeer, net.JoinHostPort(limitsPi, strconv.Itoa(p)), conns+2)
			}
		})
	})

	t.Run("new connection rate", func(t *testing.T) {
		ns := limitsNetns(t, "psr", rules["rate"])
		for _, f := range limitsFamilies {
			t.Run(f.name, func(t *testing.T) {
				for i := 0; i < 3; i++ {
					require.NoError(t, dialFrom(t, ns.b, f.source, f.stratum(), true), "new connection %d of a burst of 3", i+1)
				}
				requireDropped(t, ns.b, f.source, f.stratum(), "a new connection over the rate")
				if f.sameSubnet != "" {
					requireDropped(t, ns.b, f.sameSubnet, f.stratum(), "another address of the same /64, which shares its rate")
				}
				require.NoError(t, dialFrom(t, ns.b, f.other, f.stratum(), true), "the other source's first connection")
			})
		}
		t.Run("other ports", func(t *testing.T) {
			for i := 0; i < 5; i++ {
				require.NoError(t, dialFrom(t, ns.b, limitsPeer, net.JoinHostPort(limitsPi, "22"), true), "SSH connection %d: the rate is the stratum ports' only", i+1)
			}
		})
	})
}

// renderFirewall renders the base role's nftables template once per named
// set of overrides, as the role does (its checks first, nft -c as the
// validate step), for a two-node inventory on limitsLAN with one stratum
// port. It returns the rendered files by name.
func renderFirewall(t *testing.T, variants map[string]map[string]any) map[string]string {
	t.Helper()
	playbook := needTool(t, "ansible-playbook", "ansible")
	dir := t.TempDir()
	inventory := map[string]any{"all": map[string]any{"hosts": map[string]any{
		"pi":   map[string]any{"ansible_connection": "local", "pool_node_address": limitsPi},
		"peer": map[string]any{"pool_node_address": limitsPeer},
	}}}
	tasks := []any{map[string]any{
		"name":                         "Check the firewall settings",
		"ansible.builtin.include_role": map[string]any{"name": "base", "tasks_from": "firewall_checks", "public": true},
	}}
	out := map[string]string{}
	for name, vars := range variants {
		out[name] = filepath.Join(dir, name+".nft")
		tasks = append(tasks, map[string]any{
			"name": "Render the firewall: " + name,
			"ansible.builtin.template": map[string]any{
				"src":      filepath.Join(ansibleDir(t), "roles", "base", "templates", "nftables.conf.j2"),
				"dest":     out[name],
				"mode":     "0600",
				"validate": "/usr/sbin/nft -c -f %s",
			},
			"vars": vars,
		})
	}
	play := []any{map[string]any{
		"name":         "Render the firewall alone",
		"hosts":        "pi",
		"gather_facts": false,
		"vars":         map[string]any{"pool_lan": []string{limitsLAN}, "pool_stratum_ports": []int{limitsStratum}},
		"tasks":        tasks,
	}}
	writeJSON(t, filepath.Join(dir, "hosts.yml"), inventory) // JSON is YAML
	writeJSON(t, filepath.Join(dir, "render.yml"), play)
	env := append(ansibleEnv(t), "ANSIBLE_ROLES_PATH="+filepath.Join(ansibleDir(t), "roles"))
	run(t, dir, env, playbook, "-i", filepath.Join(dir, "hosts.yml"), filepath.Join(dir, "render.yml"))
	return out
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// limitsNetns loads rules into a namespace holding the Pi's addresses, with
// listeners on the stratum port, SSH, Nomad's API and a dynamic port, and
// gives the other namespace every source address the test dials from.
func limitsNetns(t *testing.T, prefix, rules string) netnsPair {
	ns := newNetnsPair(t, prefix+fmt.Sprint(os.Getpid()%100000))
	ns.ip(t, ns.a, "addr", "add", limitsPi+"/24", "dev", "a0")
	ns.ip(t, ns.a, "addr", "add", limitsPi6+"/64", "dev", "a0", "nodad")
	ns.ip(t, ns.a, "link", "set", "a0", "up")
	ns.ip(t, ns.a, "route", "add", "default", "dev", "a0")
	ns.ip(t, ns.a, "-6", "route", "add", "default", "dev", "a0")
	sources := []string{limitsPeer + "/24"}
	for _, f := range limitsFamilies {
		for _, a := range []string{f.source, f.sameSubnet, f.other} {
			if a != "" {
				sources = append(sources, a+f.hostPrefix)
			}
		}
	}
	for _, a := range sources {
		ns.ip(t, ns.b, "addr", "add", a, "dev", "b0", "nodad")
	}
	ns.ip(t, ns.b, "link", "set", "b0", "up")
	ns.ip(t, ns.b, "-6", "route", "add", "default", "dev", "b0")
	ns.ip(t, ns.b, "route", "add", "default", "dev", "b0")
	out, err := exec.Command("ip", "netns", "exec", ns.a, "nft", "-f", rules).CombinedOutput()
	require.NoError(t, err, "load %s into the namespace: %s", rules, out)

	for _, addr := range []string{
		net.JoinHostPort(limitsPi, strconv.Itoa(limitsStratum)),
		net.JoinHostPort(limitsPi6, strconv.Itoa(limitsStratum)),
		net.JoinHostPort(limitsPi, "22"),
		net.JoinHostPort(limitsPi, "4646"),
		net.JoinHostPort(limitsPi, "25000"),
	} {
		listenHolding(t, ns.a, addr)
	}
	return ns
}

// listenHolding accepts on addr inside netns and keeps each connection open
// until its peer closes it.
func listenHolding(t *testing.T, netns, addr string) {
	var l net.Listener
	testenv.InNetns(t, netns, func() {
		var err error
		l, err = net.Listen("tcp", addr)
		require.NoError(t, err)
	})
	var mu sync.Mutex
	var accepted []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range accepted {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
			go func() {
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
}

// holdConns opens n connections from src to dst, each of which the
// firewall must admit, and keeps them open until the test ends.
func holdConns(t *testing.T, netns, src, dst string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := connectFrom(t, netns, src, dst, true)
		require.NoError(t, err, "connection %d of %d from %s to %s: the firewall should admit it", i+1, n, src, dst)
		conns = append(conns, c)
	}
	return conns
}

// closeConns closes conns as a miner leaving does, and returns once the
// server has closed its side too, so that the firewall has seen each
// connection end. (Should a new SYN still overtake the last ACK, the
// connection tracking counts the closing connection once more and the
// SYN's retransmit, a second later, is admitted: connectFrom waits.)
func closeConns(t *testing.T, conns []net.Conn) {
	t.Helper()
	for _, c := range conns {
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
		_, err := io.Copy(io.Discard, c)
		require.NoError(t, err, "the server did not close its side")
		c.Close()
	}
}

func requireDropped(t *testing.T, netns, src, dst, what string) {
	t.Helper()
	err := dialFrom(t, netns, src, dst, false)
	require.Error(t, err, "from %s to %s, %s: the firewall should drop it", src, dst, what)
	require.Contains(t, err.Error(), "dropped", "from %s to %s, %s: dropped, not refused", src, dst, what)
}

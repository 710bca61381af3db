package provision

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The firewall a node's base role wrote, loaded for real: the node's
// /etc/nftables.conf goes into a network namespace of the test's own (the
// "Pi", holding the node's address), and a second namespace (the rest of
// the network) connects to it from a node's address, from another machine
// of the LAN and from the Internet. Every port tried has a listener, so a
// refused connection is the firewall's doing.
func checkFirewall(t *testing.T, c *testCluster, n *testNode) {
	needTool(t, "nft", "nftables")
	rules := filepath.Join(n.root, "etc", "nftables.conf")
	lan := netip.MustParsePrefix(c.addrs.LAN())
	otherLAN := lan.Addr().As4()
	otherLAN[3] = 200
	var (
		node      = c.nodeAddr(2)
		newNode   = c.nodes[len(c.nodes)-1].addr // added by add-node.yml
		lanHost   = netip.AddrFrom4(otherLAN).String()
		internet  = "203.0.113.7" // TEST-NET-3
		sources   = []string{node, newNode, lanHost, internet}
		pi        = n.addr
		ssh       = 22
		nomadHTTP = 4646
		nomadRPC  = 4647
		consulRPC = 8300
		stratum   = 3333
		dynamic   = 25000 // Nomad's dynamic range: wallet RPC, database
		unlisted  = 9999
	)

	ns := newNetnsPair(t, "pfw"+fmt.Sprint(os.Getpid()%100000))
	ns.ip(t, ns.a, "addr", "add", pi+"/24", "dev", "a0")
	ns.ip(t, ns.a, "link", "set", "a0", "up")
	ns.ip(t, ns.a, "route", "add", "default", "dev", "a0")
	for i, src := range sources {
		plen := "/32"
		if i == 0 {
			plen = "/24"
		}
		ns.ip(t, ns.b, "addr", "add", src+plen, "dev", "b0")
	}
	ns.ip(t, ns.b, "link", "set", "b0", "up")
	out, err := exec.Command("ip", "netns", "exec", ns.a, "nft", "-f", rules).CombinedOutput()
	require.NoError(t, err, "load %s into the namespace: %s", rules, out)

	ports := []int{ssh, nomadHTTP, nomadRPC, consulRPC, stratum, dynamic, unlisted}
	for _, p := range ports {
		listenIn(t, ns.a, fmt.Sprintf("%s:%d", pi, p))
	}

	admitted := map[string][]int{
		node:     {ssh, nomadHTTP, nomadRPC, consulRPC, stratum, dynamic},
		newNode:  {ssh, nomadHTTP, nomadRPC, consulRPC, stratum, dynamic},
		lanHost:  {ssh, nomadHTTP, stratum},
		internet: {stratum},
	}
	names := map[string]string{node: "node-02", newNode: "the node add-node.yml added", lanHost: "another machine of the LAN", internet: "the Internet"}
	for _, src := range sources {
		for _, p := range ports {
			want := slices.Contains(admitted[src], p)
			got := dialFrom(t, ns.b, src, fmt.Sprintf("%s:%d", pi, p), want)
			if want {
				require.NoError(t, got, "from %s (%s) to port %d: the firewall should admit it", names[src], src, p)
			} else {
				require.Error(t, got, "from %s (%s) to port %d: the firewall should drop it", names[src], src, p)
			}
		}
	}

	// keepalived's VRRP adverts for the floating address, from the nodes
	// only: an advert from anywhere else could take the address.
	require.ElementsMatch(t, []string{node, newNode}, vrrpAdmitted(t, ns, pi, sources), "VRRP admitted from")

	// The floating address, where keepalived puts it (the node's
	// interface): its stratum port open to the world, the rest as closed
	// as the node's own address.
	floating := c.floatingAddr()
	ns.ip(t, ns.a, "addr", "add", floating+"/24", "dev", "a0")
	for _, p := range []int{stratum, nomadHTTP} {
		listenIn(t, ns.a, fmt.Sprintf("%s:%d", floating, p))
	}
	require.NoError(t, dialFrom(t, ns.b, internet, fmt.Sprintf("%s:%d", floating, stratum), true), "from the Internet to the floating address's stratum port")
	require.Error(t, dialFrom(t, ns.b, internet, fmt.Sprintf("%s:%d", floating, nomadHTTP), false), "from the Internet to the floating address's Nomad API")
}

// listenIn accepts (and closes) connections to addr inside the namespace
// until the test ends.
func listenIn(t *testing.T, netns, addr string) {
	var l net.Listener
	testenv.InNetns(t, netns, func() {
		var err error
		l, err = net.Listen("tcp4", addr)
		require.NoError(t, err)
	})
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
}

// vrrpAdmitted sends an IP protocol 112 (VRRP) packet to dst from each
// source (IPv4) and says which arrived: a raw socket is handed a packet
// only after the input hook has admitted it.
func vrrpAdmitted(t *testing.T, ns netnsPair, dst string, sources []string) []string {
	var in *net.IPConn
	testenv.InNetns(t, ns.a, func() {
		var err error
		in, err = net.ListenIP("ip4:112", &net.IPAddr{IP: net.ParseIP(dst)})
		require.NoError(t, err)
	})
	defer in.Close()
	for _, src := range sources {
		testenv.InNetns(t, ns.b, func() {
			out, err := net.DialIP("ip4:112", &net.IPAddr{IP: net.ParseIP(src)}, &net.IPAddr{IP: net.ParseIP(dst)})
			require.NoError(t, err)
			defer out.Close()
			_, err = out.Write([]byte("advert"))
			require.NoError(t, err)
		})
	}
	// A dropped packet never comes; an admitted one is there at once.
	require.NoError(t, in.SetReadDeadline(time.Now().Add(3*time.Second)))
	var got []string
	buf := make([]byte, 1500)
	for {
		_, from, err := in.ReadFromIP(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return got
		}
		require.NoError(t, err)
		got = append(got, from.IP.String())
	}
}

// dialFrom connects from src inside the namespace. A connection the
// firewall admits is answered at once; one it drops is not answered at
// all, so when a drop is expected a short wait is enough (a slow machine
// can only make an admitted connection look dropped, never the reverse,
// and the admitted cases wait long).
func dialFrom(t *testing.T, netns, src, dst string, expectAdmitted bool) error {
	conn, err := connectFrom(t, netns, src, dst, expectAdmitted)
	if err != nil {
		return err
	}
	conn.Close()
	return nil
}

// connectFrom is dialFrom leaving the connection open, for the caller to
// hold and close (src and dst may be IPv4 or IPv6).
func connectFrom(t *testing.T, netns, src, dst string, expectAdmitted bool) (net.Conn, error) {
	timeout := 2 * time.Second
	if expectAdmitted {
		timeout = time.Minute
	}
	var conn net.Conn
	var err error
	testenv.InNetns(t, netns, func() {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout}
		conn, err = d.Dial("tcp", dst)
	})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("dropped (no answer in %s)", timeout)
		}
		return nil, err
	}
	return conn, nil
}

// netnsPair is two network namespaces of the test's own joined by a veth
// pair: a0 in a, b0 in b.
type netnsPair struct{ a, b string }

func newNetnsPair(t *testing.T, prefix string) netnsPair {
	p := netnsPair{a: prefix + "a", b: prefix + "b"}
	for _, name := range []string{p.a, p.b} {
		testenv.NewNetns(t, name)
	}
	out, err := exec.Command("ip", "link", "add", "a0", "netns", p.a, "type", "veth", "peer", "name", "b0", "netns", p.b).CombinedOutput()
	require.NoError(t, err, "create the veth pair: %s", out)
	return p
}

func (netnsPair) ip(t *testing.T, netns string, args ...string) {
	out, err := exec.Command("ip", append([]string{"-n", netns}, args...)...).CombinedOutput()
	require.NoError(t, err, "ip -n %s %s: %s", netns, strings.Join(args, " "), out)
}

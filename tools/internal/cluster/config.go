package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// Ports the agents use, on each node's own address.
const (
	NomadHTTPPort  = 4646
	NomadRPCPort   = 4647
	NomadSerfPort  = 4648
	ConsulHTTPPort = 8500
	ConsulDNSPort  = 8600
	ConsulGRPCPort = 8502
	ConsulServer   = 8300
	ConsulSerfLAN  = 8301
	ConsulSerfWAN  = 8302
)

// AllPorts are every port an agent of a node binds, for the check that
// nothing is left bound after Down.
var AllPorts = []int{NomadHTTPPort, NomadRPCPort, NomadSerfPort, ConsulHTTPPort, ConsulDNSPort, ConsulGRPCPort, ConsulServer, ConsulSerfLAN, ConsulSerfWAN}

// ChrootEnv is what exec tasks see of the host: only what the pool's
// programs need (shells and coreutils, the C libraries, litecoind,
// PostgreSQL, Patroni, pgBackRest, zoneinfo, CA certificates), not Nomad's
// default of all of /usr. Nomad builds each task's chroot by hard-linking
// every file of it; with all of /usr that is over 100,000 links and many
// seconds per task start, worse on an SD card. On merged-/usr systems /lib
// and /bin are symlinks that Nomad would follow and copy whole, so the
// multiarch library directory is listed under both of its names instead.
func ChrootEnv() map[string]string {
	env := map[string]string{}
	for _, pattern := range ChrootEnvPaths() {
		matches, _ := filepath.Glob(pattern)
		for _, p := range matches {
			if _, err := os.Stat(p); err == nil {
				env[p] = p
			}
		}
	}
	return env
}

// ChrootEnvPaths are the paths and glob patterns ChrootEnv takes from the
// host, where they exist. The Ansible nomad role's
// nomad_client_chroot_env_paths is the same list for the Pis.
func ChrootEnvPaths() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "arm": "arm-linux-gnueabihf"}[runtime.GOARCH]
	wanted := []string{
		// Of /etc only what the pool's programs read: users, name
		// resolution, time zone, the dynamic loader's cache, certificates,
		// and no agent configuration, key or token.
		"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf",
		"/etc/resolv.conf", "/etc/localtime", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
		"/etc/ssl", "/etc/alternatives", "/etc/protocols", "/etc/services", "/etc/gai.conf",
		"/etc/postgresql-common",
		"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/lib64", "/usr/lib64",
		"/lib/" + triplet, "/usr/lib/" + triplet,
		"/usr/lib/litecoin", "/usr/lib/postgresql", "/usr/share/postgresql", "/usr/share/postgresql-common",
		"/usr/share/zoneinfo", "/usr/share/ca-certificates", "/usr/lib/locale",
		"/run/resolvconf", "/run/systemd/resolve",
		// On arm64 the dynamic loader sits directly in /lib.
		"/lib/ld-linux-aarch64.so.1",
		// Patroni runs as /usr/bin/python3 -m patroni: Python's standard
		// library (python3.11 on bookworm).
		"/usr/lib/python3.[0-9]*",
	}
	// Of Debian's Python packages only Patroni and what it imports: all of
	// dist-packages is 20,000 files more on a node with Ansible installed.
	for _, name := range []string{
		"patroni",
		// Its Consul store (python3-consul) and that client's HTTP stack;
		// requests takes chardet, so charset_normalizer is not needed.
		"consul", "requests", "urllib3", "idna", "certifi", "chardet",
		// Its PostgreSQL connection, process checks, configuration and
		// timestamps (dateutil needs six).
		"psycopg2", "psutil", "yaml", "dateutil", "six.py",
		// patronictl, for checks and operators in the task; prettytable
		// reads its own version from its metadata at import.
		"click", "prettytable", "prettytable-*.dist-info", "wcwidth", "cdiff.py",
	} {
		wanted = append(wanted, "/usr/lib/python3/dist-packages/"+name)
	}
	return wanted
}

// FingerprintDenylist turns off the cloud fingerprinters: on this project's
// machines AWS_CA_BUNDLE makes the AWS one fail the client's start, and a
// Raspberry Pi is in no cloud.
const FingerprintDenylist = "env_aws,env_gce,env_azure,env_digitalocean"

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	vals := map[string]cty.Value{}
	for k, v := range m {
		vals[k] = cty.StringVal(v)
	}
	return cty.MapVal(vals)
}

func consulConfig(n Node, c *Cluster, server bool) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	b.SetAttributeValue("datacenter", cty.StringVal(c.Datacenter))
	b.SetAttributeValue("node_name", cty.StringVal(n.Name))
	b.SetAttributeValue("bind_addr", cty.StringVal(n.IP))
	b.SetAttributeValue("advertise_addr", cty.StringVal(n.IP))
	b.SetAttributeValue("client_addr", cty.StringVal(n.IP))
	b.SetAttributeValue("disable_update_check", cty.True)
	b.SetAttributeValue("log_level", cty.StringVal("INFO"))
	switch {
	case c.Production:
		productionConsul(b, n, c, server)
	case !server:
		b.SetAttributeValue("data_dir", cty.StringVal(filepath.Join(n.Dir, "consul")))
		b.SetAttributeValue("server", cty.False)
		b.SetAttributeValue("retry_join", cty.ListVal([]cty.Value{cty.StringVal(c.Nodes[0].IP)}))
		b.SetAttributeValue("retry_interval", cty.StringVal("1s"))
	}
	ports := b.AppendNewBlock("ports", nil).Body()
	ports.SetAttributeValue("http", cty.NumberIntVal(ConsulHTTPPort))
	ports.SetAttributeValue("dns", cty.NumberIntVal(ConsulDNSPort))
	ports.SetAttributeValue("grpc", cty.NumberIntVal(ConsulGRPCPort))
	ports.SetAttributeValue("grpc_tls", cty.NumberIntVal(-1))
	ports.SetAttributeValue("server", cty.NumberIntVal(ConsulServer))
	ports.SetAttributeValue("serf_lan", cty.NumberIntVal(ConsulSerfLAN))
	ports.SetAttributeValue("serf_wan", cty.NumberIntVal(ConsulSerfWAN))
	return hclwrite.Format(f.Bytes())
}

func nomadConfig(n Node, c *Cluster) []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	b.SetAttributeValue("name", cty.StringVal(n.Name))
	b.SetAttributeValue("region", cty.StringVal(c.Region))
	b.SetAttributeValue("datacenter", cty.StringVal(c.Datacenter))
	b.SetAttributeValue("data_dir", cty.StringVal(n.NomadDataDir()))
	b.SetAttributeValue("bind_addr", cty.StringVal(n.IP))
	b.SetAttributeValue("disable_update_check", cty.True)
	b.SetAttributeValue("log_level", cty.StringVal("INFO"))
	settings := c.agentSettings()
	switch {
	case !c.Production:
		b.SetAttributeValue("leave_on_interrupt", cty.True)
		b.SetAttributeValue("leave_on_terminate", cty.True)
	case c.DefaultAgentSettings:
		// Nomad's defaults: no agent leaves on a signal.
	case !n.Server || settings.ServersLeave:
		// As the nomad role: a client's leave is a clean exit.
		b.SetAttributeValue("leave_on_interrupt", cty.True)
		b.SetAttributeValue("leave_on_terminate", cty.True)
	}

	adv := b.AppendNewBlock("advertise", nil).Body()
	for _, k := range []string{"http", "rpc", "serf"} {
		adv.SetAttributeValue(k, cty.StringVal(n.IP))
	}
	ports := b.AppendNewBlock("ports", nil).Body()
	ports.SetAttributeValue("http", cty.NumberIntVal(NomadHTTPPort))
	ports.SetAttributeValue("rpc", cty.NumberIntVal(NomadRPCPort))
	ports.SetAttributeValue("serf", cty.NumberIntVal(NomadSerfPort))

	if c.ACL {
		b.AppendNewBlock("acl", nil).Body().SetAttributeValue("enabled", cty.True)
	}
	var serverRPC, serverSerf []cty.Value
	for _, s := range c.Servers() {
		serverRPC = append(serverRPC, cty.StringVal(fmt.Sprintf("%s:%d", s.IP, NomadRPCPort)))
		serverSerf = append(serverSerf, cty.StringVal(fmt.Sprintf("%s:%d", s.IP, NomadSerfPort)))
	}
	if n.Server {
		server := b.AppendNewBlock("server", nil).Body()
		server.SetAttributeValue("enabled", cty.True)
		server.SetAttributeValue("bootstrap_expect", cty.NumberIntVal(int64(len(serverSerf))))
		if c.Production {
			productionNomadServer(b, server, n, c, settings)
		} else if len(serverSerf) > 1 {
			server.AppendNewBlock("server_join", nil).Body().SetAttributeValue("retry_join", cty.ListVal(serverSerf))
		}
	}
	// Each node's Nomad agent talks to its own node's Consul agent.
	consulAddr := fmt.Sprintf("%s:%d", n.IP, ConsulHTTPPort)
	nomadAddr := fmt.Sprintf("http://%s:%d", n.IP, NomadHTTPPort)
	if n.Client != nil {
		shape := n.Client
		client := b.AppendNewBlock("client", nil).Body()
		client.SetAttributeValue("enabled", cty.True)
		if !n.Server || c.Production {
			client.SetAttributeValue("servers", cty.ListVal(serverRPC))
		}
		client.SetAttributeValue("network_interface", cty.StringVal(n.Interface))
		if shape.CPUMHz > 0 {
			client.SetAttributeValue("cpu_total_compute", cty.NumberIntVal(int64(shape.CPUMHz)))
		}
		if shape.MemoryMB > 0 {
			client.SetAttributeValue("memory_total_mb", cty.NumberIntVal(int64(shape.MemoryMB)))
		}
		if shape.MinDynamicPort > 0 {
			client.SetAttributeValue("min_dynamic_port", cty.NumberIntVal(int64(shape.MinDynamicPort)))
			client.SetAttributeValue("max_dynamic_port", cty.NumberIntVal(int64(shape.MaxDynamicPort)))
		}
		client.SetAttributeValue("options", stringMap(map[string]string{"fingerprint.denylist": FingerprintDenylist}))
		names := make([]string, 0, len(n.Volumes))
		for name := range n.Volumes {
			names = append(names, name)
		}
		sort.Strings(names)
		// Plain HTTP on a local cluster: no CA for the tasks to verify with.
		meta := map[string]string{
			jobspec.MetaConsulHTTPAddr: consulAddr, jobspec.MetaConsulCACert: "",
			jobspec.MetaNomadHTTPAddr: nomadAddr, jobspec.MetaNomadCACert: "",
		}
		if len(names) > 0 {
			meta[jobspec.MetaHostVolumes] = strings.Join(names, ",")
		}
		client.SetAttributeValue("meta", stringMap(meta))
		chroot := ChrootEnv()
		if c.PoolctlDir != "" {
			chroot[c.binDir()] = c.PoolctlDir
		}
		client.SetAttributeValue("chroot_env", stringMap(chroot))
		if shape.ReservedCPUMHz > 0 || shape.ReservedMemoryMB > 0 {
			r := client.AppendNewBlock("reserved", nil).Body()
			r.SetAttributeValue("cpu", cty.NumberIntVal(int64(shape.ReservedCPUMHz)))
			r.SetAttributeValue("memory", cty.NumberIntVal(int64(shape.ReservedMemoryMB)))
		}
		for _, name := range names {
			v := client.AppendNewBlock("host_volume", []string{name}).Body()
			v.SetAttributeValue("path", cty.StringVal(n.Volumes[name]))
			v.SetAttributeValue("read_only", cty.False)
		}
		// raw_exec runs tasks without isolation; on a root agent that would
		// let anyone who can reach the API run commands as root, so tasks
		// may not run as root (uid and gid 0) under it.
		raw := b.AppendNewBlock("plugin", []string{"raw_exec"}).Body().AppendNewBlock("config", nil).Body()
		raw.SetAttributeValue("enabled", cty.True)
		raw.SetAttributeValue("denied_host_uids", cty.StringVal("0"))
		raw.SetAttributeValue("denied_host_gids", cty.StringVal("0"))
	}

	consul := b.AppendNewBlock("consul", nil).Body()
	consul.SetAttributeValue("address", cty.StringVal(consulAddr))
	return hclwrite.Format(f.Bytes())
}

// otherServers lists the server nodes' addresses at port (0: the bare
// address), without n's own.
func otherServers(n Node, c *Cluster, port int) []cty.Value {
	var out []cty.Value
	for _, s := range c.Servers() {
		switch {
		case s.IP == n.IP:
		case port == 0:
			out = append(out, cty.StringVal(s.IP))
		default:
			out = append(out, cty.StringVal(fmt.Sprintf("%s:%d", s.IP, port)))
		}
	}
	return out
}

// productionConsul shapes a Consul agent as ansible/roles/consul does:
// state on disk, every server in bootstrap_expect and in retry_join, and
// the power-cut settings (without ACLs and TLS, which this cluster lacks).
func productionConsul(b *hclwrite.Body, n Node, c *Cluster, server bool) {
	settings := c.agentSettings()
	b.SetAttributeValue("data_dir", cty.StringVal(filepath.Join(n.Dir, "consul")))
	b.SetAttributeValue("server", cty.BoolVal(server))
	if !c.DefaultAgentSettings && !settings.ServersLeave {
		b.SetAttributeValue("leave_on_terminate", cty.BoolVal(!server))
		b.SetAttributeValue("skip_leave_on_interrupt", cty.BoolVal(server))
	}
	if settings.RejoinAfterLeave {
		b.SetAttributeValue("rejoin_after_leave", cty.True)
	}
	join := otherServers(n, c, 0) // Consul's serf port is its default
	if server {
		b.SetAttributeValue("bootstrap_expect", cty.NumberIntVal(int64(len(c.Servers()))))
		if settings.AutopilotMinQuorum || settings.ConsulLastContactThreshold != "" {
			ap := b.AppendNewBlock("autopilot", nil).Body()
			ap.SetAttributeValue("cleanup_dead_servers", cty.True)
			if settings.AutopilotMinQuorum {
				ap.SetAttributeValue("min_quorum", cty.NumberIntVal(int64(len(c.Servers()))))
			}
			if settings.ConsulLastContactThreshold != "" {
				ap.SetAttributeValue("last_contact_threshold", cty.StringVal(settings.ConsulLastContactThreshold))
			}
		}
	}
	b.SetAttributeValue("retry_join", cty.ListVal(join))
	b.SetAttributeValue("retry_max", cty.NumberIntVal(0))
	b.SetAttributeValue("retry_interval", cty.StringVal(settings.RetryInterval))
}

// productionNomadServer shapes a Nomad server as ansible/roles/nomad does.
func productionNomadServer(agent, server *hclwrite.Body, n Node, c *Cluster, settings AgentSettings) {
	if settings.RejoinAfterLeave {
		server.SetAttributeValue("rejoin_after_leave", cty.True)
	}
	join := server.AppendNewBlock("server_join", nil).Body()
	join.SetAttributeValue("retry_join", cty.ListVal(otherServers(n, c, NomadSerfPort)))
	join.SetAttributeValue("retry_max", cty.NumberIntVal(0))
	join.SetAttributeValue("retry_interval", cty.StringVal(settings.RetryInterval))
	if settings.HeartbeatGrace != "" {
		server.SetAttributeValue("heartbeat_grace", cty.StringVal(settings.HeartbeatGrace))
	}
	if settings.FailoverHeartbeatTTL != "" {
		server.SetAttributeValue("failover_heartbeat_ttl", cty.StringVal(settings.FailoverHeartbeatTTL))
	}
	if settings.AutopilotMinQuorum || settings.NomadLastContactThreshold != "" {
		ap := agent.AppendNewBlock("autopilot", nil).Body()
		ap.SetAttributeValue("cleanup_dead_servers", cty.True)
		if settings.AutopilotMinQuorum {
			ap.SetAttributeValue("min_quorum", cty.NumberIntVal(int64(len(c.Servers()))))
		}
		if settings.NomadLastContactThreshold != "" {
			ap.SetAttributeValue("last_contact_threshold", cty.StringVal(settings.NomadLastContactThreshold))
		}
	}
}

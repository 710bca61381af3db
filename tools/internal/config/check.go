package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/cronexpr"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// namePattern keeps names valid as Nomad job IDs, Consul service names and
// DNS labels (Consul DNS answers <service>.service.consul).
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$`)

// placePattern is what Nomad and Consul accept for datacenter and region names.
var placePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ReservedPorts are taken by the agents on every node; a stratum port there
// would never be placed.
var ReservedPorts = map[int]string{
	22:   "SSH",
	4646: "Nomad HTTP",
	4647: "Nomad RPC",
	4648: "Nomad Serf",
	8300: "Consul server RPC",
	8301: "Consul Serf LAN",
	8302: "Consul Serf WAN",
	8500: "Consul HTTP",
	8501: "Consul HTTPS",
	8502: "Consul gRPC",
	8503: "Consul gRPC TLS",
	8600: "Consul DNS",
}

// MaxCoins is how many coins a pool mines at most: the job pack renders
// four, and twelve Pis have no room for more wallets.
const MaxCoins = 4

// Limits that catch typos and hostile input long before Nomad would.
const (
	maxNodes          = 100
	maxHostVolumes    = 16
	maxInstances      = 64
	maxCPUMHz         = 1_000_000
	maxMemoryMB       = 16 << 20
	minMemoryMB       = 10 // Nomad's own floor for a task
	maxLagBlocks      = 10_000
	maxConfirmations  = 100_000
	maxDifficulty     = 1 << 40
	maxKeepDays       = 3650
	maxCoinsPerSupply = 84_000_000 // Litecoin's money supply cap, the largest of the known chains
)

type checker struct {
	diags hcl.Diagnostics
	// bad are attributes that failed to decode; rules about them are
	// skipped, since their value is only the default standing in.
	bad map[*hclsyntax.Attribute]bool
}

// skip tells whether any of the named attributes of body failed to decode.
func (c *checker) skip(body hcl.Body, names ...string) bool {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || sb == nil {
		return false
	}
	for _, n := range names {
		if a, ok := sb.Attributes[n]; ok && c.bad[a] {
			return true
		}
	}
	return false
}

func (c *checker) add(sev hcl.DiagnosticSeverity, rng hcl.Range, summary, detail string, args ...any) {
	c.diags = append(c.diags, &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  rng.Ptr(),
	})
}

func (c *checker) errorf(rng hcl.Range, summary, detail string, args ...any) {
	c.add(hcl.DiagError, rng, summary, detail, args...)
}

func (c *checker) warnf(rng hcl.Range, summary, detail string, args ...any) {
	c.add(hcl.DiagWarning, rng, summary, detail, args...)
}

// intBetween checks that attribute name of body holds a value in [lo, hi].
func (c *checker) intBetween(body hcl.Body, fallback hcl.Range, name string, v, lo, hi int) bool {
	if c.skip(body, name) {
		return false
	}
	if v < lo || v > hi {
		c.errorf(AttrRange(body, name, fallback), "Value out of range",
			"%s must be between %d and %d; it is %d.", name, lo, hi, v)
		return false
	}
	return true
}

func (c *checker) name(rng hcl.Range, what, name string) {
	if !namePattern.MatchString(name) {
		c.errorf(rng, "Invalid name",
			"The %s name %q must be 2 to 32 characters of lower-case letters, digits and hyphens, start with a letter and not end with a hyphen: it becomes part of Nomad job IDs and Consul service names.", what, name)
	}
}

// cronRange matches a range within a cron field, such as 5-1 in 5-1/2.
var cronRange = regexp.MustCompile(`(\d+)-(\d+)`)

func (c *checker) cron(body hcl.Body, fallback hcl.Range, name, expr string) {
	if c.skip(body, name) {
		return
	}
	rng := AttrRange(body, name, fallback)
	const example = `Example: "*/30 * * * *" runs every 30 minutes (UTC).`
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		// Nomad also takes seconds and years, but cron's five fields are
		// what operators write, and the extra fields admit expressions
		// whose next run the scheduler searches for forever.
		c.errorf(rng, "Invalid cron expression", "%s %q must have the five fields minute, hour, day of month, month and day of week. %s", name, expr, example)
		return
	}
	for _, m := range cronRange.FindAllStringSubmatch(expr, -1) {
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		if lo > hi {
			c.errorf(rng, "Invalid cron expression", "%s %q has the range %s, which runs backwards and matches nothing. %s", name, expr, m[0], example)
			return
		}
	}
	parsed, err := cronexpr.Parse(expr)
	if err != nil {
		c.errorf(rng, "Invalid cron expression", "%s %q is not a cron expression Nomad accepts: %s. %s", name, expr, err, example)
		return
	}
	if parsed.Next(time.Now().UTC()).IsZero() {
		c.errorf(rng, "Cron expression never fires", "%s %q matches no time at all (such as the 31st of February), so the job would never run. %s", name, expr, example)
	}
}

func (c *checker) duration(body hcl.Body, fallback hcl.Range, name, value string, lo, hi time.Duration) {
	if c.skip(body, name) {
		return
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		c.errorf(AttrRange(body, name, fallback), "Invalid duration",
			"%s %q is not a duration such as \"30m\" or \"2h\": %s.", name, value, err)
		return
	}
	if d < lo || d > hi {
		c.errorf(AttrRange(body, name, fallback), "Value out of range",
			"%s must be between %s and %s; it is %s.", name, lo, hi, d)
	}
}

func (c *checker) resources(body hcl.Body, fallback hcl.Range, cpu, memory int) {
	c.intBetween(body, fallback, "cpu_mhz", cpu, 1, maxCPUMHz)
	c.intBetween(body, fallback, "memory_mb", memory, minMemoryMB, maxMemoryMB)
}

// pathPattern keeps paths to characters that need no quoting anywhere they
// end up: job files, command lines and the shell of a prestart task.
var pathPattern = regexp.MustCompile(`^[A-Za-z0-9._/+-]+$`)

func (c *checker) absPath(body hcl.Body, fallback hcl.Range, name, value string) {
	if c.skip(body, name) {
		return
	}
	if !path.IsAbs(value) || path.Clean(value) != value || !pathPattern.MatchString(value) {
		c.errorf(AttrRange(body, name, fallback), "Invalid path",
			"%s must be a clean absolute path on the nodes, of letters, digits and . _ / + -; it is %q.", name, value)
	}
}

func (c *checker) volumeRef(body hcl.Body, fallback hcl.Range, block, name, value string, volumes map[string]*HostVolume) {
	qualified := block + "." + name
	if _, ok := volumes[value]; ok || c.skip(body, name) {
		return
	}
	known := make([]string, 0, len(volumes))
	for v := range volumes {
		known = append(known, fmt.Sprintf("%q", v))
	}
	slices.Sort(known)
	list := "none is declared"
	if len(known) > 0 {
		list = "declared: " + strings.Join(known, ", ")
	}
	how := "refers to"
	if !written(body, name) {
		how = "defaults to"
	}
	c.errorf(AttrRange(body, name, fallback), "Unknown host volume",
		"%s %s host volume %q, which the cluster block does not declare (%s). Add host_volume %q { nodes = N } to the cluster block.", qualified, how, value, list, value)
}

// Check applies the semantic rules to a decoded pool. Capacity is checked
// elsewhere, against the rendered jobs.
func Check(p *Pool) hcl.Diagnostics { return check(p, nil) }

func check(p *Pool, bad map[*hclsyntax.Attribute]bool) hcl.Diagnostics {
	c := &checker{bad: bad}
	whole := p.NameRange
	c.name(p.NameRange, "pool", p.Name)
	c.checkSettings(p.Settings, whole)
	volumes := c.checkCluster(p.Cluster, whole)
	stratumPorts := map[int]hcl.Range{}
	coinNames := map[string]hcl.Range{}
	if len(p.Coins) > MaxCoins {
		c.errorf(p.Coins[MaxCoins].NameRange, "Too many coins",
			"A pool mines at most %d coins (the job pack renders four); this definition has %d.", MaxCoins, len(p.Coins))
	}
	for _, coin := range p.Coins {
		if first, dup := coinNames[coin.Name]; dup {
			c.errorf(coin.NameRange, "Duplicate coin", "Coin %q is already defined at %s.", coin.Name, first)
			continue
		}
		coinNames[coin.Name] = coin.NameRange
		c.checkCoin(coin, volumes, stratumPorts)
	}
	c.checkDatabase(p.Database, whole, volumes)
	c.checkHousekeeping(p.Housekeeping, whole, volumes)
	c.checkWeb(p.Web, whole, p.Cluster.Nodes, stratumPorts, coinNames)
	return c.diags
}

func (c *checker) checkSettings(s *PoolSettings, whole hcl.Range) {
	for _, attr := range []struct{ name, value string }{{"datacenter", s.Datacenter}, {"region", s.Region}} {
		if !placePattern.MatchString(attr.value) {
			c.errorf(AttrRange(s.Body, attr.name, whole), "Invalid name",
				"%s %q must be lower-case letters, digits, '-' and '_'.", attr.name, attr.value)
		}
	}
	c.absPath(s.Body, whole, "poolctl", s.Poolctl)
}

func (c *checker) checkCluster(cl *Cluster, whole hcl.Range) map[string]*HostVolume {
	at := BlockRange(cl.Body, whole)
	body := cl.Body
	if c.intBetween(body, at, "nodes", cl.Nodes, 1, maxNodes) {
		if c.skip(body, "servers") {
			// reported by decoding
		} else if cl.Servers < 1 || cl.Servers > cl.Nodes {
			c.errorf(AttrRange(body, "servers", at), "Value out of range",
				"servers must be between 1 and nodes (%d); it is %d.", cl.Nodes, cl.Servers)
		} else if cl.Servers%2 == 0 {
			c.errorf(AttrRange(body, "servers", at), "Even number of servers",
				"servers is %d. Raft needs a majority: %d servers survive no more failures than %d, and a split leaves no majority. Use %d (or %d).",
				cl.Servers, cl.Servers, cl.Servers-1, cl.Servers-1, cl.Servers+1)
		} else if cl.Servers == 1 && cl.Nodes > 1 {
			c.warnf(AttrRange(body, "servers", at), "Single server",
				"With one Nomad/Consul server the cluster stops scheduling when that node loses power. Three servers survive the loss of one.")
		}
		if c.skip(body, "tolerate_node_failures") {
			// reported by decoding
		} else if cl.TolerateNodeFailures < 0 || cl.TolerateNodeFailures >= cl.Nodes {
			c.errorf(AttrRange(body, "tolerate_node_failures", at), "Value out of range",
				"tolerate_node_failures must be between 0 and nodes-1 (%d); it is %d.", cl.Nodes-1, cl.TolerateNodeFailures)
		} else if quorumLoss := (cl.Servers - 1) / 2; cl.Servers > 1 && cl.TolerateNodeFailures > quorumLoss && cl.Servers%2 == 1 {
			c.warnf(AttrRange(body, "tolerate_node_failures", at), "Failures beyond server quorum",
				"The jobs may fit after losing %d nodes, but %d servers lose their leader when more than %d of them are down.",
				cl.TolerateNodeFailures, cl.Servers, quorumLoss)
		}
	}
	c.intBetween(body, at, "node_cpu_mhz", cl.NodeCPUMHz, 100, maxCPUMHz)
	c.intBetween(body, at, "node_memory_mb", cl.NodeMemoryMB, 128, maxMemoryMB)
	c.intBetween(body, at, "reserved_cpu_mhz", cl.ReservedCPUMHz, 0, maxCPUMHz)
	c.intBetween(body, at, "reserved_memory_mb", cl.ReservedMemoryMB, 0, maxMemoryMB)
	c.intBetween(body, at, "server_reserved_cpu_mhz", cl.ServerReservedCPUMHz, 0, maxCPUMHz)
	c.intBetween(body, at, "server_reserved_memory_mb", cl.ServerReservedMemoryMB, 0, maxMemoryMB)
	if !c.skip(body, "node_cpu_mhz", "reserved_cpu_mhz", "server_reserved_cpu_mhz") && cl.ReservedCPUMHz+cl.ServerReservedCPUMHz >= cl.NodeCPUMHz {
		c.errorf(AttrRange(body, "reserved_cpu_mhz", at), "Reservation exceeds the node",
			"reserved_cpu_mhz (%d) plus server_reserved_cpu_mhz (%d) leaves nothing of node_cpu_mhz (%d) for jobs.",
			cl.ReservedCPUMHz, cl.ServerReservedCPUMHz, cl.NodeCPUMHz)
	}
	if !c.skip(body, "node_memory_mb", "reserved_memory_mb", "server_reserved_memory_mb") && cl.ReservedMemoryMB+cl.ServerReservedMemoryMB >= cl.NodeMemoryMB {
		c.errorf(AttrRange(body, "reserved_memory_mb", at), "Reservation exceeds the node",
			"reserved_memory_mb (%d) plus server_reserved_memory_mb (%d) leaves nothing of node_memory_mb (%d) for jobs.",
			cl.ReservedMemoryMB, cl.ServerReservedMemoryMB, cl.NodeMemoryMB)
	}
	for _, cidr := range cl.LAN {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			c.errorf(AttrRange(body, "lan", at), "Invalid network",
				"lan entry %q is not a network in CIDR form such as \"192.168.1.0/24\": %s.", cidr, err)
		}
	}
	if len(cl.LAN) == 0 && cl.Nodes > 1 && !c.skip(body, "lan", "nodes") {
		c.errorf(AttrRange(body, "lan", at), "Missing LAN",
			"With %d nodes, wallets must accept RPC from the other nodes: set lan to the network(s) the nodes share, for example lan = [\"192.168.1.0/24\"].", cl.Nodes)
	}
	c.floatingAddress(body, at, cl)
	volumes := map[string]*HostVolume{}
	if len(cl.HostVolumes) > maxHostVolumes {
		// Every distinct set of volumes makes nodes that are not alike,
		// and the node-loss check tries every way of losing unlike nodes.
		c.errorf(BlockRange(cl.HostVolumes[maxHostVolumes].Body, at), "Too many host volumes",
			"A cluster declares at most %d host volumes; this one declares %d.", maxHostVolumes, len(cl.HostVolumes))
	}
	for _, v := range cl.HostVolumes {
		vr := BlockRange(v.Body, at)
		c.name(vr, "host volume", v.Name)
		if first, dup := volumes[v.Name]; dup {
			c.errorf(vr, "Duplicate host volume", "Host volume %q is already declared at %s.", v.Name, BlockRange(first.Body, at))
			continue
		}
		volumes[v.Name] = v
		if cl.Nodes >= 1 && cl.Nodes <= maxNodes {
			c.intBetween(v.Body, vr, "nodes", v.Nodes, 1, cl.Nodes)
		}
	}
	return volumes
}

func (c *checker) checkCoin(coin *Coin, volumes map[string]*HostVolume, stratumPorts map[int]hcl.Range) {
	at := coin.NameRange
	c.name(at, "coin", coin.Name)
	chain, known := Chains[coin.Chain]
	if !known {
		names := make([]string, 0, len(Chains))
		for n := range Chains {
			names = append(names, n)
		}
		slices.Sort(names)
		c.errorf(AttrRange(coin.Body, "chain", at), "Unknown chain",
			"chain %q is not one poolctl knows; known: %s.", coin.Chain, strings.Join(names, ", "))
	} else if !slices.Contains(chain.Networks, coin.Network) {
		c.errorf(AttrRange(coin.Body, "network", at), "Unknown network",
			"network %q is not a %s network; use one of %s.", coin.Network, chain.Name, strings.Join(chain.Networks, ", "))
	}

	w := coin.Wallet
	wr := BlockRange(w.Body, at)
	if c.intBetween(w.Body, wr, "instances", w.Instances, 1, maxInstances) && w.Instances < 2 {
		c.warnf(AttrRange(w.Body, "instances", wr), "Single wallet instance",
			"With one %s wallet there is no healthy instance to fall back on while it crashes, hangs or lags; use instances = 2 or more.", coin.Name)
	}
	c.resources(w.Body, wr, w.CPUMHz, w.MemoryMB)
	c.volumeRef(w.Body, wr, "wallet", "volume", w.Volume, volumes)
	if known || w.Command != "" {
		c.absPath(w.Body, wr, "command", w.Command)
	}
	c.intBetween(w.Body, wr, "max_lag_blocks", w.MaxLagBlocks, 0, maxLagBlocks)
	c.duration(w.Body, wr, "max_tip_age", w.MaxTipAge, time.Minute, 7*24*time.Hour)
	if c.intBetween(w.Body, wr, "dbcache_mb", w.DBCacheMB, 4, maxMemoryMB) && !c.skip(w.Body, "memory_mb") && w.DBCacheMB >= w.MemoryMB {
		c.errorf(AttrRange(w.Body, "dbcache_mb", wr), "Cache larger than the wallet",
			"dbcache_mb (%d) must be well below memory_mb (%d): the daemon needs memory for its mempool, peers and wallet too, and Nomad kills a task that exceeds memory_mb.", w.DBCacheMB, w.MemoryMB)
	}
	if !c.skip(w.Body, "prune_mb") && w.PruneMB != 0 && (w.PruneMB < 550 || w.PruneMB > maxMemoryMB) {
		c.errorf(AttrRange(w.Body, "prune_mb", wr), "Value out of range",
			"prune_mb must be 0 (keep all blocks) or at least 550, the smallest prune target the daemon accepts; it is %d.", w.PruneMB)
	}
	c.intBetween(w.Body, wr, "max_connections", w.MaxConnections, 1, 1000)
	c.peers(w.Body, wr, w.Peers, w.MaxConnections, w.Instances)

	s := coin.Stratum
	sr := BlockRange(s.Body, at)
	if c.intBetween(s.Body, sr, "port", s.Port, 1, 65535) {
		if what, taken := ReservedPorts[s.Port]; taken {
			c.errorf(AttrRange(s.Body, "port", sr), "Port reserved",
				"Port %d is used by %s on every node.", s.Port, what)
		} else if first, dup := stratumPorts[s.Port]; dup {
			c.errorf(AttrRange(s.Body, "port", sr), "Duplicate port",
				"Stratum port %d is already used at %s; each coin needs its own port.", s.Port, first)
		} else {
			stratumPorts[s.Port] = AttrRange(s.Body, "port", sr)
		}
	}
	if c.intBetween(s.Body, sr, "instances", s.Instances, 1, maxInstances) && s.Instances < 2 {
		c.warnf(AttrRange(s.Body, "instances", sr), "Single stratum instance",
			"With one %s stratum server, miners lose their connection whenever it restarts or its node fails; use instances = 2 or more on clusters of two or more nodes.", coin.Name)
	}
	c.resources(s.Body, sr, s.CPUMHz, s.MemoryMB)
	if !c.skip(s.Body, "fee_percent") && (s.FeePercent < 0 || s.FeePercent >= 100 || math.IsNaN(s.FeePercent)) {
		c.errorf(AttrRange(s.Body, "fee_percent", sr), "Value out of range",
			"fee_percent must be at least 0 and below 100; it is %g.", s.FeePercent)
	}
	d := s.Difficulty
	dr := BlockRange(d.Body, sr)
	switch {
	case c.skip(d.Body, "min", "max", "start"):
		// reported by decoding
	case !(d.Min > 0) || d.Min > maxDifficulty:
		c.errorf(AttrRange(d.Body, "min", dr), "Value out of range", "min must be above 0 and at most %d; it is %g.", int64(maxDifficulty), d.Min)
	case !(d.Max >= d.Min) || d.Max > maxDifficulty:
		c.errorf(AttrRange(d.Body, "max", dr), "Value out of range", "max must be between min (%g) and %d; it is %g.", d.Min, int64(maxDifficulty), d.Max)
	case !(d.Start >= d.Min && d.Start <= d.Max):
		c.errorf(AttrRange(d.Body, "start", dr), "Value out of range", "start must be between min (%g) and max (%g); it is %g.", d.Min, d.Max, d.Start)
	}
	c.intBetween(d.Body, dr, "target_share_seconds", d.TargetShareSeconds, 1, 600)

	p := coin.Payout
	pr := BlockRange(p.Body, at)
	c.cron(p.Body, pr, "cron", p.Cron)
	if p.Scheme != "pplns" && p.Scheme != "proportional" {
		c.errorf(AttrRange(p.Body, "scheme", pr), "Unknown payout scheme",
			"scheme %q is not one of \"pplns\", \"proportional\".", p.Scheme)
	}
	if c.skip(p.Body, "minimum") {
		// reported by decoding
	} else if !(p.Minimum > 0) || p.Minimum > maxCoinsPerSupply {
		c.errorf(AttrRange(p.Body, "minimum", pr), "Value out of range",
			"minimum must be above 0 and at most %d coins; it is %g.", maxCoinsPerSupply, p.Minimum)
	} else if known {
		if decimals(p.Minimum) > unitDecimals(chain.UnitsPerCoin) {
			c.errorf(AttrRange(p.Body, "minimum", pr), "Too many decimals",
				"minimum %g is finer than the coin's smallest unit (1/%d).", p.Minimum, chain.UnitsPerCoin)
		}
	}
	if !c.skip(p.Body, "window") && !(p.Window > 0 && p.Window <= 100) {
		c.errorf(AttrRange(p.Body, "window", pr), "Value out of range",
			"window must be above 0 and at most 100 (times the network difficulty); it is %g.", p.Window)
	}
	if !c.skip(p.Body, "reserve") && !(p.Reserve >= 0 && p.Reserve <= maxCoinsPerSupply) {
		c.errorf(AttrRange(p.Body, "reserve", pr), "Value out of range",
			"reserve must be at least 0 coins; it is %g.", p.Reserve)
	}
	c.intBetween(p.Body, pr, "max_outputs", p.MaxOutputs, 1, 2000)
	floor := 1
	if known {
		floor = chain.CoinbaseMaturity
	}
	if !c.skip(p.Body, "confirmations") && (p.Confirmations < floor || p.Confirmations > maxConfirmations) {
		c.errorf(AttrRange(p.Body, "confirmations", pr), "Value out of range",
			"confirmations must be between %d and %d; it is %d. Coinbase rewards cannot be spent before %d confirmations, so crediting earlier would promise coins the pool cannot yet pay.",
			floor, maxConfirmations, p.Confirmations, floor)
	}
	c.resources(p.Body, pr, p.CPUMHz, p.MemoryMB)
}

func (c *checker) checkDatabase(d *Database, whole hcl.Range, volumes map[string]*HostVolume) {
	at := BlockRange(d.Body, whole)
	c.resources(d.Body, at, d.CPUMHz, d.MemoryMB)
	c.volumeRef(d.Body, at, "database", "volume", d.Volume, volumes)
	c.absPath(d.Body, at, "command", d.Command)
	if c.intBetween(d.Body, at, "instances", d.Instances, 1, maxDatabaseInstances) {
		if v, ok := volumes[d.Volume]; ok && v.Nodes < d.Instances && !c.skip(d.Body, "instances") {
			c.errorf(AttrRange(d.Body, "instances", at), "Not enough nodes for the database",
				"database.instances is %d, but host volume %q is on %d node(s): each instance keeps its own copy of the database on its own node. Give host_volume %q nodes = %d or more, or lower instances.",
				d.Instances, d.Volume, v.Nodes, d.Volume, d.Instances)
		}
	}
}

// maxDatabaseInstances bounds database.instances: one primary, one
// synchronous standby and asynchronous replicas; every replica costs the
// primary a WAL sender and its node the whole database's memory.
const maxDatabaseInstances = 5

func (c *checker) checkHousekeeping(h *Housekeeping, whole hcl.Range, volumes map[string]*HostVolume) {
	at := BlockRange(h.Body, whole)
	c.cron(h.Body, at, "blocks_cron", h.BlocksCron)
	c.cron(h.Body, at, "stats_cron", h.StatsCron)
	c.cron(h.Body, at, "backup_cron", h.BackupCron)
	c.volumeRef(h.Body, at, "housekeeping", "backup_volume", h.BackupVolume, volumes)
	c.intBetween(h.Body, at, "backup_keep_days", h.BackupKeepDays, 1, maxKeepDays)
	c.resources(h.Body, at, h.CPUMHz, h.MemoryMB)
}

// decimals counts the digits after the point in the shortest form of v.
func decimals(v float64) int {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// unitDecimals is how many decimals the smallest unit allows (8 for 10^8).
func unitDecimals(unitsPerCoin int64) int {
	n := 0
	for ; unitsPerCoin > 1; unitsPerCoin /= 10 {
		n++
	}
	return n
}

// floatingAddress checks the cluster's floating address: an IPv4 host
// address inside one of the LAN's networks (VRRP moves it between nodes
// of that network), neither its network nor its broadcast address.
func (c *checker) floatingAddress(body hcl.Body, at hcl.Range, cl *Cluster) {
	if cl.FloatingAddress == "" {
		return
	}
	r := AttrRange(body, "floating_address", at)
	addr, err := netip.ParseAddr(cl.FloatingAddress)
	if err != nil || !addr.Is4() {
		c.errorf(r, "Invalid floating address",
			"floating_address %q is not an IPv4 address such as \"192.168.1.50\" (keepalived moves one IPv4 address between the nodes).", cl.FloatingAddress)
		return
	}
	if _, ok := FloatingPrefix(cl); !ok {
		c.errorf(r, "Floating address outside the LAN",
			"floating_address %s is not a host address of any lan network (%s): it must be a free address of the network the nodes share, outside the router's DHCP range.",
			addr, strings.Join(cl.LAN, ", "))
	}
}

// FloatingPrefix is the floating address with the length of the LAN
// network holding it (what keepalived adds to the interface).
func FloatingPrefix(cl *Cluster) (netip.Prefix, bool) {
	addr, err := netip.ParseAddr(cl.FloatingAddress)
	if err != nil || !addr.Is4() {
		return netip.Prefix{}, false
	}
	for _, cidr := range cl.LAN {
		network, err := netip.ParsePrefix(cidr)
		if err != nil || !network.Addr().Is4() || !network.Contains(addr) {
			continue
		}
		network = network.Masked()
		if network.Bits() < 31 && (addr == network.Addr() || addr == broadcast(network)) {
			continue
		}
		return netip.PrefixFrom(addr, network.Bits()), true
	}
	return netip.Prefix{}, false
}

// broadcast is the last address of an IPv4 network.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// maxAdded is how many added connections (addnode) the daemon keeps:
// the wallet's siblings and its peers share them.
const maxAdded = 8

// peers checks a wallet's peers: each "host:port" with an IP address or a
// DNS name and a port, nothing else (each becomes an addnode line of the
// daemon's configuration, so nothing may end the line), none twice.
func (c *checker) peers(body hcl.Body, fallback hcl.Range, peers []string, maxConnections, instances int) {
	siblings := max(instances-1, 0)
	if len(peers)+siblings > maxAdded {
		c.errorf(AttrRange(body, "peers", fallback), "Too many peers",
			"peers names %d nodes; the daemon keeps at most %d added connections, and %d of those are for the coin's other wallet instances: name at most %d.",
			len(peers), maxAdded, siblings, max(maxAdded-siblings, 0))
	}
	seen := map[string]bool{}
	for i, p := range peers {
		rng := ElemRange(body, "peers", i, fallback)
		if why := peerProblem(p); why != "" {
			c.errorf(rng, "Invalid peer", "peers entry %q %s; write \"host:port\", for example \"192.168.1.50:9333\" or \"node.example.org:9333\".", p, why)
			continue
		}
		if seen[p] {
			c.errorf(rng, "Duplicate peer", "peers names %q twice.", p)
		}
		seen[p] = true
	}
	if len(peers) > 0 && !c.skip(body, "max_connections") && maxConnections <= len(peers) {
		c.errorf(AttrRange(body, "max_connections", fallback), "Too few connections for the peers",
			"max_connections (%d) must exceed the %d peers: the daemon needs connections for the coin's other wallets and the network too.", maxConnections, len(peers))
	}
}

// peerChars are all a peer may hold: an address or a DNS name, a port,
// and brackets around an IPv6 address. Nothing else reaches the daemon's
// configuration, a Nomad template and, in the pack, an HCL heredoc.
var peerChars = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]+$`)

// peerProblem says what is wrong with a peer's "host:port", or "".
func peerProblem(p string) string {
	if !peerChars.MatchString(p) {
		return "holds characters other than letters, digits and . : - [ ]"
	}
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		return "is not host:port"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return fmt.Sprintf("has port %q, not a number from 1 to 65535", port)
	}
	bracketed := strings.HasPrefix(p, "[")
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Is6() != bracketed {
			return "brackets an address that is not IPv6, or an IPv6 address without brackets"
		}
		return ""
	}
	if bracketed {
		return fmt.Sprintf("brackets %q: only an IPv6 address goes in brackets", host)
	}
	if !validHostname(host) {
		return fmt.Sprintf("has host %q, neither an IP address nor a DNS name", host)
	}
	return ""
}

// validHostname says whether h is a DNS name: dot-separated labels of
// letters, digits and inner hyphens, 63 characters each, 253 in all.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func (c *checker) checkWeb(w *Web, whole hcl.Range, nodes int, stratumPorts map[int]hcl.Range, coins map[string]hcl.Range) {
	at := BlockRange(w.Body, whole)
	if c.intBetween(w.Body, at, "port", w.Port, 1, 65535) {
		if what, taken := ReservedPorts[w.Port]; taken {
			c.errorf(AttrRange(w.Body, "port", at), "Port reserved",
				"Port %d is used by %s on every node.", w.Port, what)
		} else if stratum, dup := stratumPorts[w.Port]; dup {
			c.errorf(AttrRange(w.Body, "port", at), "Duplicate port",
				"Port %d is already a stratum port at %s; the web servers need a port of their own.", w.Port, stratum)
		}
	}
	if c.intBetween(w.Body, at, "instances", w.Instances, 1, maxInstances) && w.Instances < 2 && nodes >= 2 {
		c.warnf(AttrRange(w.Body, "instances", at), "Single web instance",
			"With one web server, the pool's pages and API are down whenever it restarts or its node fails; use instances = 2 or more.")
	}
	c.resources(w.Body, at, w.CPUMHz, w.MemoryMB)
	for _, proxy := range w.TrustedProxies {
		if c.skip(w.Body, "trusted_proxies") {
			break
		}
		prefix, err := ParseProxy(proxy)
		switch {
		case err != nil:
			c.errorf(AttrRange(w.Body, "trusted_proxies", at), "Invalid proxy",
				"trusted_proxies entry %q is neither an IP address nor a network in CIDR form such as \"192.168.1.1/32\": %s.", proxy, err)
		case prefix.Bits() == 0:
			c.errorf(AttrRange(w.Body, "trusted_proxies", at), "Every address trusted",
				"trusted_proxies entry %q trusts every client's X-Forwarded-For: any client could name another address and escape the rate limit. Name the proxy's own address.", proxy)
		}
	}
	seen := map[string]hcl.Range{}
	for _, e := range w.Explorers {
		er := BlockRange(e.Body, at)
		if _, ok := coins[e.Coin]; !ok {
			c.errorf(er, "Unknown coin", "explorer %q names no coin of this pool.", e.Coin)
		} else if first, dup := seen[e.Coin]; dup {
			c.errorf(er, "Duplicate explorer", "Coin %q's explorer is already defined at %s.", e.Coin, first)
		}
		seen[e.Coin] = er
		for _, l := range []struct{ name, value, placeholder string }{
			{"block_link", e.BlockLink, "$height$ or $hash$"},
			{"tx_link", e.TxLink, "{0}"},
			{"address_link", e.AddressLink, "{0}"},
		} {
			if l.value == "" || c.skip(e.Body, l.name) {
				continue
			}
			if problem := linkProblem(l.value, l.name == "block_link"); problem != "" {
				c.errorf(AttrRange(e.Body, l.name, er), "Invalid link",
					"%s must be an http or https URL with %s where the value goes; %s.", l.name, l.placeholder, problem)
			}
		}
	}
}

// ParseProxy reads a trusted_proxies entry: an address (the network of
// that address alone) or a network in CIDR form.
func ParseProxy(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("an address with a zone")
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// linkProblem says what is wrong with an explorer link template, or "".
func linkProblem(link string, block bool) string {
	u, err := url.Parse(link)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Sprintf("%q is not one", link)
	case block && !strings.Contains(link, "$height$") && !strings.Contains(link, "$hash$"):
		return fmt.Sprintf("%q has neither", link)
	case !block && !strings.Contains(link, "{0}"):
		return fmt.Sprintf("%q has none", link)
	}
	return ""
}

// Package dbmember runs one member of the pool's replicated PostgreSQL:
// it writes Patroni's configuration from what Nomad gives the task (the
// node's name and address, the ports, the Consul agent, the members'
// passwords) and hands the process over to Patroni, which starts
// PostgreSQL, takes or follows the leader lock in Consul, and fails over.
package dbmember

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Patroni's timing, in seconds. The leader lock is a Consul session with a
// TTL of TTL/2, and Consul refuses sessions under 10 s, so TTL is at least
// 20. A dead primary's lock lapses between TTL/2 and TTL after its last
// renewal; a replica notices within LoopWait and promotes: failover in
// about TTL seconds. LoopWait + 2*RetryTimeout must not exceed TTL.
const (
	TTL          = 20
	LoopWait     = 5
	RetryTimeout = 5
)

// Logins Patroni makes at bootstrap, besides the pool's.
const (
	SuperUser       = "postgres"
	ReplicationUser = "replicator"
	RewindUser      = "rewinder"
)

// Member is what one member needs to know.
type Member struct {
	// Name is the member's name in the cluster: the node's name, so that
	// status says where the primary is.
	Name string
	// Namespace and Scope place the cluster's keys in Consul
	// (contract.DatabaseDCSNamespace, contract.DatabaseScope).
	Namespace, Scope string
	// DataDir is the member's data directory on its node's volume; BinDir
	// holds PostgreSQL's programs.
	DataDir, BinDir string
	// Listen and API are host:port of PostgreSQL and of Patroni's REST API
	// on the node's address: what the other members, the pool's processes
	// and Consul's check reach.
	Listen, API string
	// SocketDir holds PostgreSQL's Unix socket (Patroni connects there).
	SocketDir string
	// PGPass is the file Patroni writes the replication login to.
	PGPass string
	// Allow are the networks the pool's processes and the other members
	// connect from (pg_hba.conf); the member's own address and loopback are
	// always allowed.
	Allow []string
	// Consul is the local agent: its address as CONSUL_HTTP_ADDR gives it
	// (host:port, or a URL), its CA file, the task's token.
	ConsulAddr, ConsulCACert, ConsulToken string
	// Passwords of Patroni's logins, and the pool login's SCRAM verifier.
	SuperuserPassword, ReplicationPassword, RewindPassword string
	PoolUser, PoolDatabase, PoolVerifier                   string
	// WebVerifier is the web job's read-only login's verifier, when the
	// job's variable has that login.
	WebVerifier string
	// EnsureLogins is the command that makes the primary's logins match
	// the job's variable (poolctl database ensure-logins): Patroni runs it
	// after creating the cluster, on every start and on every change of
	// role, with arguments of its own after it.
	EnsureLogins []string
	// RestoreCommand, when set, makes a new cluster from the database's
	// archive instead of an empty one (Patroni's custom bootstrap): the
	// command (poolctl archive restore --dir ... --to ...) gets --scope
	// and --datadir from Patroni and leaves the recovery settings it
	// wrote for PostgreSQL to follow.
	RestoreCommand []string
	// SharedBuffersMB and MaxConnections size PostgreSQL.
	SharedBuffersMB, MaxConnections int
}

// Check says what is missing or malformed, naming the setting.
func (m Member) Check() error {
	for _, f := range []struct{ name, v string }{
		{"name", m.Name}, {"namespace", m.Namespace}, {"scope", m.Scope}, {"data directory", m.DataDir},
		{"bin directory", m.BinDir}, {"socket directory", m.SocketDir}, {"pgpass file", m.PGPass},
		{"Consul address", m.ConsulAddr}, {"superuser password", m.SuperuserPassword},
		{"replication password", m.ReplicationPassword}, {"rewind password", m.RewindPassword},
		{"pool login", m.PoolUser}, {"pool database", m.PoolDatabase}, {"pool login's verifier", m.PoolVerifier},
	} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("the database member's %s is empty", f.name)
		}
	}
	for _, a := range []struct{ name, v string }{{"PostgreSQL address", m.Listen}, {"REST API address", m.API}} {
		host, port, err := net.SplitHostPort(a.v)
		if err != nil || net.ParseIP(host) == nil || port == "" || port == "0" {
			return fmt.Errorf("the database member's %s %q is not an IP address and port", a.name, a.v)
		}
	}
	for _, n := range m.Allow {
		if _, _, err := net.ParseCIDR(n); err != nil {
			return fmt.Errorf("the database member's allowed network %q is not a CIDR network", n)
		}
	}
	if !strings.HasPrefix(m.PoolVerifier, "SCRAM-SHA-256$") {
		return fmt.Errorf("the pool login's verifier is not a SCRAM-SHA-256 verifier")
	}
	if m.WebVerifier != "" && !strings.HasPrefix(m.WebVerifier, "SCRAM-SHA-256$") {
		return fmt.Errorf("the read-only login's verifier is not a SCRAM-SHA-256 verifier")
	}
	if _, err := consulURL(m.ConsulAddr); err != nil {
		return err
	}
	return nil
}

// SlotSettings are the cluster-wide settings for the archive's slot. They
// are part of the bootstrap configuration, and ensure-logins puts them into
// a cluster made before them (Patroni keeps the settings it had in its data
// directory and in Consul, not the bootstrap's).
func SlotSettings() map[string]any {
	return map[string]any{
		"slots":        map[string]any{contract.DatabaseArchiveSlot: map[string]any{"type": "physical"}},
		"ignore_slots": []any{map[string]any{"name": contract.DatabaseArchiveSlot, "type": "physical"}},
	}
}

// DCSKey is the Consul key of one of the cluster's entries, where Patroni
// keeps it: <namespace without its leading slash><scope>/<key>.
func (m Member) DCSKey(key string) string {
	return strings.TrimPrefix(m.Namespace, "/") + m.Scope + "/" + key
}

// consulURL turns CONSUL_HTTP_ADDR's forms (host:port, http://..., https://...)
// into the URL Patroni's Consul client wants.
func consulURL(addr string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("the Consul address %q is not host:port or an http(s) URL", addr)
	}
	return u, nil
}

// HBA is pg_hba.conf as Patroni writes it on every start: peer for the
// local superuser, SCRAM for everyone else, from loopback, the member's
// own address and the allowed networks only. Nothing is trusted.
func (m Member) HBA() []string {
	host, _, _ := net.SplitHostPort(m.Listen)
	var nets []string
	for _, n := range append([]string{"127.0.0.1/32", host + "/32"}, m.Allow...) {
		if !slices.Contains(nets, n) {
			nets = append(nets, n)
		}
	}
	out := []string{"local all " + SuperUser + " peer"}
	for _, n := range nets {
		out = append(out, "host replication "+ReplicationUser+" "+n+" scram-sha-256")
	}
	for _, n := range nets {
		out = append(out, "host all all "+n+" scram-sha-256")
	}
	return out
}

// Config is Patroni's configuration for the member, as JSON (which
// Patroni's YAML reader takes as it is).
func (m Member) Config() ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	u, _ := consulURL(m.ConsulAddr)
	consul := map[string]any{
		"url": u.Scheme + "://" + u.Host,
		// Nomad registers the member's service and its check; Patroni
		// only keeps the cluster's state in Consul's KV.
		"register_service": false,
	}
	if m.ConsulCACert != "" {
		consul["cacert"] = m.ConsulCACert
	}
	if m.ConsulToken != "" {
		consul["token"] = m.ConsulToken
	}
	_, port, _ := net.SplitHostPort(m.Listen)
	cfg := map[string]any{
		"scope":     m.Scope,
		"namespace": m.Namespace,
		"name":      m.Name,
		"log":       map[string]any{"level": "INFO"},
		"restapi":   map[string]any{"listen": m.API, "connect_address": m.API},
		"consul":    consul,
		"bootstrap": map[string]any{
			// Cluster-wide settings, written to Consul by the member that
			// creates the cluster (later: patronictl edit-config).
			"dcs": map[string]any{
				"ttl":           TTL,
				"loop_wait":     LoopWait,
				"retry_timeout": RetryTimeout,
				// A replica more than 1 MiB of WAL behind is not promoted.
				"maximum_lag_on_failover": 1 << 20,
				// A commit is acknowledged once the synchronous standby
				// has it: a primary's death loses no acknowledged write.
				// Not strict: with no standby left, the primary keeps
				// serving alone (commits then live on one node only, which
				// poolctl status says loudly) rather than stopping the pool.
				"synchronous_mode":        true,
				"synchronous_mode_strict": false,
				// The archive's replication slot, kept by Patroni on the
				// primary (and made again on a new one), so the primary
				// keeps the WAL the archive has not received. Patroni 3.0
				// keeps no copy on the replicas: the archive advances its
				// own copy there, which ignore_slots keeps Patroni from
				// dropping.
				"slots":        SlotSettings()["slots"],
				"ignore_slots": SlotSettings()["ignore_slots"],
				"postgresql": map[string]any{
					// A primary that comes back after a failover rewinds
					// its divergent WAL and follows the new one.
					"use_pg_rewind": true,
					"parameters": map[string]any{
						"max_connections":       m.MaxConnections,
						"max_wal_senders":       10,
						"max_replication_slots": 10,
						"wal_level":             "replica",
						"hot_standby":           "on",
						"wal_keep_size":         "128MB",
						"wal_log_hints":         "on",
					},
				},
			},
			"initdb": []any{
				map[string]any{"encoding": "UTF8"}, map[string]any{"locale": "C"}, "data-checksums",
				map[string]any{"auth-local": "peer"}, map[string]any{"auth-host": "scram-sha-256"},
			},
			// The pool's login and database, on the new cluster.
			"post_bootstrap": strings.Join(shellQuote(m.EnsureLogins), " "),
		},
		"postgresql": map[string]any{
			"listen":          m.Listen,
			"connect_address": m.Listen,
			"data_dir":        m.DataDir,
			"bin_dir":         m.BinDir,
			"pgpass":          m.PGPass,
			"use_unix_socket": true,
			// Logins follow the job's variable on the primary: new
			// credentials, or a data directory from before the replicated
			// database, need no person.
			"callbacks": map[string]any{
				"on_start":       strings.Join(shellQuote(m.EnsureLogins), " "),
				"on_role_change": strings.Join(shellQuote(m.EnsureLogins), " "),
			},
			"authentication": map[string]any{
				"superuser":   map[string]any{"username": SuperUser, "password": m.SuperuserPassword},
				"replication": map[string]any{"username": ReplicationUser, "password": m.ReplicationPassword},
				"rewind":      map[string]any{"username": RewindUser, "password": m.RewindPassword},
			},
			"parameters": map[string]any{
				"unix_socket_directories":    m.SocketDir,
				"port":                       port,
				"shared_buffers":             fmt.Sprintf("%dMB", m.SharedBuffersMB),
				"dynamic_shared_memory_type": "mmap",
				"logging_collector":          "off",
				"password_encryption":        "scram-sha-256",
			},
			// Written by Patroni on every start: bootstrap.pg_hba would
			// leave initdb's trust lines in place.
			"pg_hba": m.HBA(),
			// A new replica copies the primary at once instead of waiting
			// for a spread checkpoint (minutes with the defaults).
			"basebackup": []any{map[string]any{"checkpoint": "fast"}},
			// A member whose data cannot follow the primary (a failed
			// rewind, a timeline it cannot reach) is cloned afresh from
			// the primary instead of stopping.
			"remove_data_directory_on_rewind_failure":     true,
			"remove_data_directory_on_diverged_timelines": true,
		},
		// The Pis have no hardware watchdog configured.
		"watchdog": map[string]any{"mode": "off"},
		"tags":     map[string]any{"nofailover": false, "noloadbalance": false, "clonefrom": false, "nosync": false},
	}
	if len(m.RestoreCommand) > 0 {
		boot := cfg["bootstrap"].(map[string]any)
		boot["method"] = "archive"
		boot["archive"] = map[string]any{
			"command":                     strings.Join(shellQuote(m.RestoreCommand), " "),
			"keep_existing_recovery_conf": true,
		}
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// shellQuote quotes each word for Patroni, which splits post_bootstrap
// like a shell.
func shellQuote(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && strings.IndexFunc(w, func(r rune) bool {
			return !(r == '/' || r == '-' || r == '_' || r == '.' || r == '=' || r == ':' || r == ',' ||
				(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
		}) < 0 {
			out[i] = w
			continue
		}
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}

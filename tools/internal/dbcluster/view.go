// Package dbcluster reads the replicated database's cluster state as
// Patroni keeps it in Consul, and judges it: which node is the primary,
// which replicas follow it and how far behind, and whether a commit is
// still confirmed by a second node before the pool is told it is done.
//
// Only Consul's keys are read: the operator's machine reaches no
// Patroni REST API, and the operator's token may read the pool's keys.
package dbcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Patroni's keys under the prefix.
const (
	keyLeader       = contract.DatabaseKeyLeader
	keySync         = contract.DatabaseKeySync
	keyStatus       = contract.DatabaseKeyStatus
	keyLegacyOptime = contract.DatabaseKeyOptime
	keyConfig       = contract.DatabaseKeyConfig
	keyInitialize   = contract.DatabaseKeyInitialize
	keyFailover     = contract.DatabaseKeyFailover
	keyMembers      = contract.DatabaseKeyMembers
	keyHistory      = contract.DatabaseKeyHistory
)

// defaultMaxLagOnFailover is Patroni's maximum_lag_on_failover when its
// configuration does not set one: a replica further behind is not promoted.
const defaultMaxLagOnFailover = 1 << 20

// NotKnown is a position or lag nobody reported.
const NotKnown int64 = -1

// Role is what a member is to the cluster, as the leader and sync keys
// say, not as the member itself last wrote.
type Role string

const (
	Primary     Role = "primary"
	SyncStandby Role = "sync standby"
	Replica     Role = "replica"
	// NotLeader is a member that says it is the primary but holds no
	// leader key: an old primary whose key has not expired yet, or one
	// about to be demoted.
	NotLeader Role = "primary without the leader key"
	// OtherRole is any other role the member reported (standby_leader,
	// demoted, uninitialized...), kept in Member.ReportedRole.
	OtherRole Role = "other"
)

// Member is one Patroni member, from its key members/<name>.
type Member struct {
	Name string
	// Address is the host:port of its conn_url; "" when it gave none.
	Address string
	Role    Role
	// ReportedRole is the role the member wrote (Patroni 3.0 says
	// "master" for the primary).
	ReportedRole string
	// State is PostgreSQL's as Patroni runs it: running, starting,
	// stopped, crashed, creating replica...; "" when the key has none.
	State string
	// Timeline is 0 when not reported.
	Timeline int64
	// Position is its WAL position in bytes (xlog_location), Lag how far
	// it is behind the leader's; NotKnown when not reported.
	Position, Lag int64
}

// Config is what the cluster's shared configuration (the config key)
// says about replication. Known is false when the key is missing or
// unreadable; the other fields then hold Patroni's defaults.
type Config struct {
	Known            bool
	SynchronousMode  bool
	Strict           bool
	Paused           bool
	MaxLagOnFailover int64
}

// View is the cluster's state as one read of its keys found it.
type View struct {
	// Prefix is where the keys are (contract.DatabaseDCSPrefix).
	Prefix string
	// Want is how many instances the pool definition asks for.
	Want int
	// Keys is how many keys were found under Prefix.
	Keys int
	// Initialized says the initialize key exists: a member bootstrapped
	// the cluster.
	Initialized bool
	// Leader names the member holding the leader key: the primary; ""
	// when no member does.
	Leader string
	// SyncStandbys are the members the sync key names as confirming the
	// leader's commits, when it names the current leader.
	SyncStandbys []string
	// LeaderPosition is the leader's last WAL position in bytes, and
	// PositionFrom the key it was read from: the status key first, which
	// is the figure Patroni itself measures a replica's lag against
	// (maximum_lag_on_failover, patronictl list); the leader's own member
	// key only when there is no status key.
	LeaderPosition int64
	PositionFrom   string
	Config         Config
	// Switchover is a requested switchover or failover (the failover
	// key), "" when none is.
	Switchover string
	// Members are sorted by name.
	Members []Member
	// History is every promotion Patroni recorded, oldest first: when a
	// member became the primary, on which timeline, and why.
	History []Switch
	// Notes are what could not be read, each naming its key, and what
	// else an operator should know beside the verdict.
	Notes []string
	// Index is Consul's index of the answer, for a blocking query.
	Index uint64

	// syncUnreadable: the sync key exists but says nothing readable, so
	// nobody can tell whether commits are synchronous.
	syncUnreadable bool
}

// ErrFiltered is Consul's answer to a token that may read some of the
// keys but not all: it leaves the others out, saying so only in a header.
// A partial answer could pass for a cluster without a primary, so it is
// refused.
var ErrFiltered = errors.New("permission denied: Consul left out keys this token may not read")

// Read lists the keys under the pool's prefix in one request and returns
// the view they give; want is the number of instances the pool asks for.
//
// A token that may read none of the keys gets an empty list from Consul,
// no error (which is why patronictl shows such a token an empty cluster):
// an empty answer is checked with a read of one key, which Consul refuses
// (403) to such a token, so that "never bootstrapped" is never a missing
// permission in disguise.
func Read(ctx context.Context, kv *consulapi.KV, pool string, want int) (*View, error) {
	return read(ctx, kv, pool, want, 0)
}

// read is Read as a blocking query: it returns once Consul's index for the
// prefix passes waitIndex (0: at once).
func read(ctx context.Context, kv *consulapi.KV, pool string, want int, waitIndex uint64) (*View, error) {
	prefix := contract.DatabaseDCSPrefix(pool)
	q := (&consulapi.QueryOptions{WaitIndex: waitIndex}).WithContext(ctx)
	pairs, meta, err := kv.List(prefix, q)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	if meta.ResultsFilteredByACLs {
		return nil, fmt.Errorf("list %s: %w", prefix, ErrFiltered)
	}
	if len(pairs) == 0 {
		probe := prefix + keyInitialize
		if _, _, err := kv.Get(probe, (&consulapi.QueryOptions{}).WithContext(ctx)); err != nil {
			return nil, fmt.Errorf("read %s: %w", probe, err)
		}
	}
	v := FromPairs(pool, pairs, want)
	v.Index = meta.LastIndex
	return v, nil
}

// FromPairs builds the view from the keys a list of the pool's prefix
// found. Nothing in them is trusted: a key that is not what Patroni
// writes becomes a note naming it, never a panic.
func FromPairs(pool string, pairs consulapi.KVPairs, want int) *View {
	prefix := contract.DatabaseDCSPrefix(pool)
	v := &View{Prefix: prefix, Want: want, LeaderPosition: NotKnown,
		Config: Config{MaxLagOnFailover: defaultMaxLagOnFailover}}
	keys := map[string]*consulapi.KVPair{}
	var memberKeys []string
	for _, p := range pairs {
		if p == nil || !strings.HasPrefix(p.Key, prefix) {
			continue
		}
		rel := strings.TrimPrefix(p.Key, prefix)
		keys[rel] = p
		if name, ok := strings.CutPrefix(rel, keyMembers); ok && name != "" && !strings.Contains(name, "/") {
			memberKeys = append(memberKeys, rel)
		}
	}
	v.Keys = len(keys)
	_, v.Initialized = keys[keyInitialize]

	if p := keys[keyLeader]; p != nil {
		v.Leader = clean(strings.TrimSpace(string(p.Value)))
		if v.Leader != "" && p.Session == "" {
			v.problem(keyLeader, "names %s but no session holds it (written by hand?)", v.Leader)
		}
	}
	v.readConfig(keys[keyConfig])
	v.readSync(keys[keySync])
	v.readFailover(keys[keyFailover])
	v.readHistory(keys[keyHistory])

	sort.Strings(memberKeys)
	for _, rel := range memberKeys {
		v.Members = append(v.Members, v.readMember(rel, keys[rel].Value))
	}
	v.readLeaderPosition(keys)
	for i := range v.Members {
		m := &v.Members[i]
		if m.Name != v.Leader && m.Position != NotKnown && v.LeaderPosition != NotKnown {
			// The two were written at different moments: a replica a
			// little ahead of the last position recorded is not behind.
			m.Lag = max(v.LeaderPosition-m.Position, 0)
		}
	}
	v.notes()
	return v
}

func (v *View) problem(rel, format string, args ...any) {
	v.Notes = append(v.Notes, v.Prefix+rel+": "+fmt.Sprintf(format, args...))
}

// fields decodes a key's JSON object, or records why it is not one.
func (v *View) fields(rel string, value []byte) (map[string]json.RawMessage, bool) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(value, &f); err != nil {
		v.problem(rel, "not a JSON object (%s)", clean(err.Error()))
		return nil, false
	}
	if f == nil {
		v.problem(rel, "not a JSON object (null)")
		return nil, false
	}
	return f, true
}

// field decodes one field of a key into dst; a field that is missing or
// null leaves dst alone and says false.
func (v *View) field(rel string, f map[string]json.RawMessage, name string, dst any) bool {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		v.problem(rel, "%s is not a %s (%s)", name, kind(dst), clean(string(raw)))
		return false
	}
	return true
}

func kind(dst any) string {
	switch dst.(type) {
	case *string:
		return "string"
	case *bool:
		return "boolean"
	}
	return "number"
}

func (v *View) readConfig(p *consulapi.KVPair) {
	if p == nil {
		return
	}
	f, ok := v.fields(keyConfig, p.Value)
	if !ok {
		return
	}
	c := &v.Config
	c.Known = true
	v.field(keyConfig, f, "synchronous_mode", &c.SynchronousMode)
	v.field(keyConfig, f, "synchronous_mode_strict", &c.Strict)
	v.field(keyConfig, f, "pause", &c.Paused)
	var maxLag int64
	if v.field(keyConfig, f, "maximum_lag_on_failover", &maxLag) && maxLag >= 0 {
		c.MaxLagOnFailover = maxLag
	}
}

func (v *View) readSync(p *consulapi.KVPair) {
	if p == nil {
		return
	}
	f, ok := v.fields(keySync, p.Value)
	if !ok {
		v.syncUnreadable = true
		return
	}
	var leader, standbys string
	v.field(keySync, f, "leader", &leader)
	if raw, present := f["sync_standby"]; present && string(raw) != "null" && !v.field(keySync, f, "sync_standby", &standbys) {
		v.syncUnreadable = true
		return
	}
	if standbys == "" {
		return
	}
	if leader != v.Leader {
		// Written for a leader that is gone: Patroni ignores it too.
		v.problem(keySync, "names %s as the leader, not %s: left from before a failover", clean(leader), orNone(v.Leader))
		return
	}
	// Patroni keeps several synchronous standbys comma separated.
	for _, s := range strings.Split(standbys, ",") {
		if s = clean(strings.TrimSpace(s)); s != "" {
			v.SyncStandbys = append(v.SyncStandbys, s)
		}
	}
}

func (v *View) readFailover(p *consulapi.KVPair) {
	if p == nil {
		return
	}
	f, ok := v.fields(keyFailover, p.Value)
	if !ok {
		return
	}
	var from, to string
	v.field(keyFailover, f, "leader", &from)
	v.field(keyFailover, f, "member", &to)
	if from == "" && to == "" {
		return
	}
	v.Switchover = fmt.Sprintf("from %s to %s", orAny(clean(from)), orAny(clean(to)))
}

func (v *View) readMember(rel string, value []byte) Member {
	name := clean(strings.TrimPrefix(rel, keyMembers))
	m := Member{Name: name, Position: NotKnown, Lag: NotKnown}
	f, ok := v.fields(rel, value)
	if ok {
		var connURL string
		if v.field(rel, f, "conn_url", &connURL) {
			u, err := url.Parse(connURL)
			if err != nil || u.Host == "" {
				v.problem(rel, "conn_url is not a URL with a host (%s)", clean(connURL))
			} else {
				m.Address = clean(u.Host)
			}
		} else if _, present := f["conn_url"]; !present {
			v.problem(rel, "has no conn_url")
		}
		if v.field(rel, f, "state", &m.State) {
			m.State = clean(m.State)
		} else if _, present := f["state"]; !present {
			v.problem(rel, "has no state")
		}
		if v.field(rel, f, "role", &m.ReportedRole) {
			m.ReportedRole = clean(m.ReportedRole)
		}
		var tl int64
		if v.field(rel, f, "timeline", &tl) && tl > 0 {
			m.Timeline = tl
		}
		var pos int64
		if v.field(rel, f, "xlog_location", &pos) {
			if pos < 0 {
				v.problem(rel, "xlog_location is negative (%d)", pos)
			} else {
				m.Position = pos
			}
		}
	}
	switch reported := m.ReportedRole; {
	case name == v.Leader:
		m.Role = Primary
	case isSyncStandby(v.SyncStandbys, name):
		m.Role = SyncStandby
	case reported == "replica":
		m.Role = Replica
	case reported == "master" || reported == "primary":
		m.Role = NotLeader
	default:
		m.Role = OtherRole
	}
	return m
}

// readLeaderPosition takes the leader's WAL position from the status key
// (legacy: optime/leader), else from the leader's member key.
func (v *View) readLeaderPosition(keys map[string]*consulapi.KVPair) {
	if p := keys[keyStatus]; p != nil {
		if f, ok := v.fields(keyStatus, p.Value); ok {
			var pos int64
			if v.field(keyStatus, f, "optime", &pos) && pos >= 0 {
				v.LeaderPosition, v.PositionFrom = pos, keyStatus
				return
			}
		}
	} else if p := keys[keyLegacyOptime]; p != nil {
		var pos int64
		if err := json.Unmarshal(p.Value, &pos); err == nil && pos >= 0 {
			v.LeaderPosition, v.PositionFrom = pos, keyLegacyOptime
			return
		}
		v.problem(keyLegacyOptime, "not a WAL position (%s)", clean(string(p.Value)))
	}
	for _, m := range v.Members {
		if m.Name == v.Leader && v.Leader != "" && m.Position != NotKnown {
			v.LeaderPosition, v.PositionFrom = m.Position, keyMembers+m.Name
		}
	}
}

func isSyncStandby(standbys []string, name string) bool {
	for _, s := range standbys {
		if s == name {
			return true
		}
	}
	return false
}

// Member returns the member of that name, or nil.
func (v *View) Member(name string) *Member {
	for i := range v.Members {
		if v.Members[i].Name == name {
			return &v.Members[i]
		}
	}
	return nil
}

// clean keeps what a member wrote from reaching the operator's terminal
// as control sequences or as a screenful: printable runes only, at most
// 64 of them.
func clean(s string) string {
	const maxRunes = 64
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxRunes {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "no leader"
	}
	return s
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// Wait follows the cluster's keys with blocking queries until done says
// the view is what the caller waits for, and returns that view; it ends
// with ctx, returning the last view read and ctx's error.
func Wait(ctx context.Context, kv *consulapi.KV, pool string, want int, done func(*View) bool) (*View, error) {
	var last *View
	var index uint64
	for {
		v, err := read(ctx, kv, pool, want, index)
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if err != nil {
			return last, err
		}
		last = v
		if done(v) {
			return v, nil
		}
		if v.Index < index {
			index = 0 // Consul's index went back (a new leader): start over
		} else {
			index = v.Index
		}
	}
}

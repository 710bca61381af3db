package dbarchive

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// Members lists the database's members; which one is the primary a
// connection tells.
type Members func(ctx context.Context) ([]ledger.Member, error)

// ConsulMembers are the members of the database's service in Consul that
// pass their checks, as the pool's processes find them.
func ConsulMembers(consul *consulapi.Client, service string) Members {
	return func(ctx context.Context) ([]ledger.Member, error) { return ledger.Members(ctx, consul, service) }
}

// StaticMembers are members given by address (host:port), for an archive
// run without Consul.
func StaticMembers(addrs []string) (Members, error) {
	var out []ledger.Member
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || host == "" || perr != nil || p == 0 {
			return nil, fmt.Errorf("member %q is not host:port", a)
		}
		out = append(out, ledger.Member{Host: host, Port: uint16(p)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no member given")
	}
	return func(context.Context) ([]ledger.Member, error) { return out, nil }, nil
}

// login is the replication login the archive connects with.
type login struct{ user, password string }

// connString is a libpq keyword/value connection string to the members
// that accepts only a server of kind attrs (target_session_attrs:
// read-write for the primary, standby): pg_receivewal and pg_basebackup
// (through libpq) and pgx read it alike. The password is not in it: the
// programs get it in PGPASSWORD.
func connString(members []ledger.Member, user, application, attrs string) string {
	hosts, ports := make([]string, len(members)), make([]string, len(members))
	for i, m := range members {
		hosts[i], ports[i] = m.Host, strconv.Itoa(int(m.Port))
	}
	kv := [][2]string{
		{"host", strings.Join(hosts, ",")}, {"port", strings.Join(ports, ",")},
		{"user", user}, {"dbname", "postgres"}, {"application_name", application},
		{"target_session_attrs", attrs}, {"connect_timeout", "5"},
	}
	var b strings.Builder
	for i, p := range kv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p[0] + "=" + kvQuote(p[1]))
	}
	return b.String()
}

func kvQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// findPrimary connects to the member that accepts writes and checks that
// the archive's slot is there (and, with free, that nothing streams from
// it). It answers the primary's address.
func findPrimary(ctx context.Context, members Members, l login, slot, application string, free bool) (ledger.Member, error) {
	ms, err := members(ctx)
	if err != nil {
		return ledger.Member{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(connString(ms, l.user, application, "read-write"))
	if err != nil {
		return ledger.Member{}, err
	}
	cfg.Password = l.password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return ledger.Member{}, fmt.Errorf("no member of %s accepts writes: %s", describe(ms), oneLine(err))
	}
	defer conn.Close(context.Background())
	addr := conn.PgConn().Conn().RemoteAddr().String()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.ParseUint(port, 10, 16)
	primary := ledger.Member{Host: host, Port: uint16(p)}
	var active *bool
	err = conn.QueryRow(ctx, "SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND slot_type = 'physical'", slot).Scan(&active)
	if err == pgx.ErrNoRows {
		return primary, fmt.Errorf("the primary %s has no physical replication slot %q: Patroni creates it from the cluster's slots setting", primary, slot)
	}
	if err != nil {
		return primary, fmt.Errorf("read the replication slots of %s: %w", primary, err)
	}
	if free && active != nil && *active {
		return primary, fmt.Errorf("replication slot %q on %s is in use: is another archive running?", slot, primary)
	}
	return primary, nil
}

// oneLine is err's message on one line: pgx lists each host it tried on
// a line of its own.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.NewReplacer(":\n", ": ", "\n", "; ").Replace(err.Error())), " ")
}

func describe(ms []ledger.Member) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

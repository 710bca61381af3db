// Package powercut takes a pool deployed on a production-shaped cluster
// through power cuts (all nodes at once, flapping, a node that never
// returns, a planned reboot of every node) with a miner mining, and
// measures, from the moment the last node's power came back, how long the
// pool took to accept shares again and to have every job healthy, and
// whether a share acknowledged before the cut is missing. Nobody types
// anything in between: whatever recovers, recovers by itself.
//
// TestWholeClusterPowerCut and its variants (this package's tests) and
// bench-powercut run the same scenarios.
package powercut

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/miner"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
)

// Scenario is what happens to the cluster's power.
type Scenario struct {
	Name string
	// Cuts is how many times every node loses power (1: one cut; more:
	// flapping, the power back each time for Between, or until
	// BetweenUntil says the cluster is in the state to cut in).
	Cuts         int
	Between      []Moment
	NeverReturns []string
	// Planned stops every node as systemd does for a reboot instead of
	// cutting its power.
	Planned bool
	// DuringPayout cuts the (first) power while a payout runs: once the
	// miner has been credited, the payout job is forced and the power
	// goes as soon as the payout's intent is written. After the power
	// comes back the payout job is forced again, and the intent must
	// settle: paid once, not twice, not lost.
	DuringPayout bool
	// PayAfter has the miner credited and paid once the pool is healthy
	// again: with a wallet's node gone for good, the wallets left (and
	// the one placed anew) pay, holding the pool's keys.
	PayAfter bool
	// MaxDelay is the longest wait between two nodes' power coming back
	// (each is random up to it).
	MaxDelay time.Duration
	// AcrossSlot times the (first) cut 8-12 s before a slot of the blocks
	// job, outside any run of it, and keeps the power off until 2 s past
	// the slot. Afterwards every periodic job whose slot passed without a
	// leader must have run once for it (Result.Slots).
	AcrossSlot bool
}

// Moment is when, after the power came back, the next cut of a flapping
// scenario falls.
type Moment struct {
	Name string
	// Reached says the cluster is there (nil: at once).
	Reached func(ctx context.Context, p *Pool) bool
}

// Result is what a scenario measured.
type Result struct {
	Scenario string
	Seed     uint64
	// FirstShare and AllHealthy are counted from the last node's power
	// coming back.
	FirstShare, AllHealthy time.Duration
	// Acked shares were acknowledged to the miner before the (first)
	// cut; Stored of them are in the database; Lost = Acked - Stored.
	Acked, Stored, Lost int64
	// Payouts are the ledger's and the wallets' payouts once every job
	// is healthy again.
	Payouts Payouts
	// Slots says, for a cut across a periodic slot, how each periodic
	// job whose slot was missed ran for it.
	Slots []string
	// CutAt is when the (first) cut came.
	CutAt time.Time
	// CaughtUp are the slots missed and the launch that ran for each.
	CaughtUp []SlotRun
	// Timeline is what happened, in order, for the log.
	Timeline []string
}

// Pool is a deployed pool on its cluster, as the scenarios see it.
type Pool struct {
	Cluster *cluster.Cluster
	Pool    *config.Pool
	Coin    string
	Nomad   *nomadapi.Client
	Consul  *consulapi.Client
	// Address is the miner's payout address.
	Address string
	// Wait is the longest a scenario waits for any one recovery.
	Wait time.Duration
	Log  func(format string, args ...any)

	dsn string
	// heldLock is the session holding the payout job's Consul lock when
	// the power went during a payout ("" if none held it).
	heldLock string
	// poweredAt is when the power started coming back, last time.
	poweredAt time.Time
	// runs counts the scenarios run on this pool.
	runs int
}

// New reads what the scenarios need of a deployed pool.
func New(ctx context.Context, c *cluster.Cluster, pool *config.Pool, coin, address string) (*Pool, error) {
	nomad, err := c.NomadClient()
	if err != nil {
		return nil, err
	}
	consul, err := c.ConsulClient()
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(pool.Coins, func(c *config.Coin) bool { return c.Name == coin }) {
		return nil, fmt.Errorf("the pool definition has no coin %q", coin)
	}
	v, _, err := nomad.Variables().Read(contract.VariablePath(contract.JobID(pool.Name, "", contract.KindDatabase)), (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read the database's login: %w", err)
	}
	return &Pool{
		Cluster: c, Pool: pool, Coin: coin, Nomad: nomad, Consul: consul, Address: address,
		Wait: 5 * time.Minute, Log: func(string, ...any) {},
		// No host: ledger.Open finds the primary in Consul.
		dsn: fmt.Sprintf("postgres://%s:%s@placeholder/pool?sslmode=disable&connect_timeout=3",
			v.Items[secrets.ItemDatabaseUser], v.Items[secrets.ItemDatabasePassword]),
	}, nil
}

// Run takes the pool through s with a miner mining, seeded by seed (the
// order the nodes come back in and the delays).
func (p *Pool) Run(ctx context.Context, s Scenario, seed uint64) (Result, error) {
	res := Result{Scenario: s.Name, Seed: seed}
	note := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		res.Timeline = append(res.Timeline, line)
		p.Log("%s: %s", s.Name, line)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	var names []string
	for _, n := range p.Cluster.Nodes {
		names = append(names, n.Name)
	}
	if err := p.waitHealthy(ctx, nil); err != nil {
		return res, fmt.Errorf("before the cut: %w", err)
	}

	var before atomic.Int64
	mineCtx, stopMining := context.WithCancel(ctx)
	defer stopMining()
	// Worker names of this run's own: scenarios run one after another on
	// one pool, and each counts only its shares.
	p.runs++
	beforeWorker, afterWorker := fmt.Sprintf("before%d", p.runs), fmt.Sprintf("after%d", p.runs)
	mined := p.mine(mineCtx, beforeWorker, &before, nil)
	err := p.wait(ctx, "ten shares in the database", func(ctx context.Context) bool { return p.sharesOf(ctx, beforeWorker) >= 10 })
	if err != nil {
		stopMining()
		<-mined
		return res, err
	}

	var wallets string
	err = p.wait(ctx, "every wallet instance on the same chain, with a peer", func(ctx context.Context) bool {
		var ok bool
		ok, wallets = p.walletsInStep(ctx)
		return ok
	})
	if err != nil {
		stopMining()
		<-mined
		return res, fmt.Errorf("before the cut: %w (%s)", err, wallets)
	}
	note("before the cut: %s", wallets)

	if s.DuringPayout {
		if err := p.startPayout(ctx, note); err != nil {
			return res, err
		}
	}
	var periodic []periodicJob
	var slot time.Time
	if s.AcrossSlot {
		if periodic, slot, err = p.slotAhead(ctx); err != nil {
			stopMining()
			<-mined
			return res, fmt.Errorf("before the cut: %w", err)
		}
		note("the cut spans the blocks job's slot at %s", slot.Format(time.TimeOnly))
	}

	var back, cutAt, leaderAt time.Time
	cuts := max(s.Cuts, 1)
	for i := 0; i < cuts; i++ {
		alive := names
		if i == 0 {
			cutAt = time.Now()
			res.CutAt = cutAt
		} else {
			alive = without(names, s.NeverReturns)
		}
		if s.Planned {
			err = p.Cluster.Shutdown(ctx, alive...)
			note("every node shut down for a reboot")
		} else {
			err = p.Cluster.PowerCut(ctx, alive...)
			note("power cut %d of %d on every node", i+1, cuts)
		}
		if i == 0 {
			stopMining()
			<-mined
			res.Acked = before.Load()
		}
		if err != nil {
			return res, err
		}
		if i == 0 && s.AcrossSlot {
			// The power stays off past the slot.
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(time.Until(slot.Add(2 * time.Second))):
			}
		}
		var booted []string
		p.poweredAt = time.Now()
		for _, k := range rng.Perm(len(names)) {
			if contains(s.NeverReturns, names[k]) {
				continue
			}
			delay := time.Duration(rng.Int64N(int64(max(s.MaxDelay, time.Millisecond))))
			// The power comes back to the Pis one after another.
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(delay):
			}
			if err := p.Cluster.Boot(names[k]); err != nil {
				return res, err
			}
			booted = append(booted, fmt.Sprintf("%s after %s", names[k], delay.Round(time.Millisecond)))
		}
		back = time.Now()
		note("power back: %s", strings.Join(booted, ", "))
		// The API address is a powered server's.
		if p.Nomad, err = p.Cluster.NomadClient(); err != nil {
			return res, err
		}
		if p.Consul, err = p.Cluster.ConsulClient(); err != nil {
			return res, err
		}
		if len(s.NeverReturns) > 0 {
			note("no power back, ever, for %s", strings.Join(s.NeverReturns, ", "))
		}
		if s.AcrossSlot && i == cuts-1 {
			if leaderAt, err = p.leaderBack(ctx); err != nil {
				return res, err
			}
			note("a Nomad leader seen %.1f s after the power came back", leaderAt.Sub(back).Seconds())
		}
		if i < cuts-1 && i < len(s.Between) {
			m := s.Between[i]
			if m.Reached != nil {
				if err := p.wait(ctx, m.Name, func(ctx context.Context) bool { return m.Reached(ctx, p) }); err != nil {
					return res, err
				}
			}
			note("%s: %.1f s after the power came back", m.Name, time.Since(back).Seconds())
		}
	}

	var after atomic.Int64
	first := make(chan struct{})
	afterCtx, stopAfter := context.WithCancel(ctx)
	minedAfter := p.mine(afterCtx, afterWorker, &after, first)
	defer func() { stopAfter(); <-minedAfter }()
	select {
	case <-first:
		res.FirstShare = time.Since(back)
		note("first share accepted %.1f s after the last power came back", res.FirstShare.Seconds())
	case <-time.After(p.Wait):
		return res, fmt.Errorf("no share accepted within %s of the power coming back; %s", p.Wait, p.describe(ctx))
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if err := p.waitHealthy(ctx, &cutAt); err != nil {
		return res, fmt.Errorf("after the power came back: %w", err)
	}
	res.AllHealthy = time.Since(back)
	note("every job healthy %.1f s after the last power came back", res.AllHealthy.Seconds())
	err = p.wait(ctx, "every share acknowledged before the cut in the database", func(ctx context.Context) bool {
		res.Stored = p.sharesOf(ctx, beforeWorker)
		return res.Stored >= res.Acked
	})
	res.Lost = max(res.Acked-res.Stored, 0)
	note("%d shares acknowledged before the cut, %d in the database", res.Acked, res.Stored)
	if err != nil {
		return res, err
	}
	if s.DuringPayout {
		if err := p.settlePayouts(ctx, note); err != nil {
			return res, err
		}
	}
	if s.PayAfter {
		if err := p.payAfter(ctx, note); err != nil {
			return res, err
		}
	}
	if res.Payouts, err = p.CheckPayouts(ctx); err != nil {
		return res, fmt.Errorf("check the payouts: %w", err)
	}
	note("payouts: %d sent, %d open, %d doubled, %d lost (transactions listed by %s)", res.Payouts.Sent, res.Payouts.Open, res.Payouts.Doubled, res.Payouts.Lost, strings.Join(res.Payouts.Asked, ", "))
	if len(res.Payouts.Unknown) > 0 {
		note("payouts recorded sent whose transaction no wallet instance lists: %s", strings.Join(res.Payouts.Unknown, ", "))
		for _, s := range res.Payouts.Seen {
			note("wallet instance %s", s)
		}
	}
	if s.AcrossSlot {
		res.Slots, res.CaughtUp, err = p.missedSlots(ctx, periodic, cutAt, leaderAt)
		for _, n := range res.Slots {
			note("%s", n)
		}
		if err != nil {
			return res, fmt.Errorf("periodic jobs after the cut: %w", err)
		}
	}
	return res, nil
}

// waitHealthy waits until the pool is whole: Nomad and Consul leaders
// with every server that has power voting, the database with a primary
// and a synchronous standby, every instance of the wallets, the stratum
// servers and the database passing in Consul, and (after a cut at
// *since) every service job's running tasks started after it.
func (p *Pool) waitHealthy(ctx context.Context, since *time.Time) error {
	type step struct {
		what string
		ok   func(context.Context) bool
	}
	steps := []step{
		{"leaders with every server that has power voting", p.votersBack},
		{"a database primary with a synchronous standby", p.databaseHealthy},
		{"every wallet, stratum and database instance passing", p.servicesPassing},
	}
	if since != nil {
		steps = append(steps, step{"every service job's tasks started again", func(ctx context.Context) bool { return p.restartedSince(ctx, *since) }})
	}
	for _, s := range steps {
		if err := p.wait(ctx, s.what, s.ok); err != nil {
			return fmt.Errorf("%w; %s; %s", err, p.describeDatabase(ctx), p.describe(ctx))
		}
	}
	return nil
}

// describeDatabase says what Patroni's keys say of the database now, and
// what Nomad says of the database's and the wallets' allocations, for a
// failure's message.
func (p *Pool) describeDatabase(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var parts []string
	if d, err := ReadDatabase(ctx, p.Consul, p.Pool.Name); err != nil {
		parts = append(parts, "Patroni's keys: "+err.Error())
	} else {
		names := make([]string, 0, len(d.Members))
		for name := range d.Members {
			names = append(names, name)
		}
		slices.Sort(names)
		members := make([]string, len(names))
		for i, name := range names {
			m := d.Members[name]
			members[i] = fmt.Sprintf("%s %s %s", name, m.Role, m.State)
		}
		parts = append(parts, fmt.Sprintf("Patroni's keys: leader %q, sync standby %q, members [%s]", d.Leader, d.SyncStandby, strings.Join(members, "; ")))
	}
	for _, job := range []string{contract.JobID(p.Pool.Name, "", contract.KindDatabase), contract.JobID(p.Pool.Name, p.Coin, contract.KindWallet)} {
		parts = append(parts, p.describeAllocations(ctx, job))
	}
	return strings.Join(parts, "; ")
}

// describeAllocations says where the job's allocations are, and what
// their tasks did last.
func (p *Pool) describeAllocations(ctx context.Context, job string) string {
	allocs, _, err := p.Nomad.Jobs().Allocations(job, false, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return job + " allocations: " + err.Error()
	}
	var lines []string
	for _, a := range allocs {
		lines = append(lines, fmt.Sprintf("%s on %s: %s/%s%s", a.Name, a.NodeName, a.DesiredStatus, a.ClientStatus, lastEvents(a)))
	}
	slices.Sort(lines)
	return job + " allocations [" + strings.Join(lines, "; ") + "]"
}

// lastEvents is the newest task events of a running allocation, for a
// failure's message: a task that restarts or waits says why.
func lastEvents(a *nomadapi.AllocationListStub) string {
	if a.DesiredStatus != nomadapi.AllocDesiredStatusRun {
		return ""
	}
	const keep = 4
	var out []string
	for _, task := range slices.Sorted(maps.Keys(a.TaskStates)) {
		st := a.TaskStates[task]
		var evs []string
		for _, e := range st.Events[max(0, len(st.Events)-keep):] {
			msg := e.DisplayMessage
			if msg == "" {
				msg = e.Message
			}
			evs = append(evs, fmt.Sprintf("%s %s: %s", time.Unix(0, e.Time).UTC().Format("15:04:05"), e.Type, msg))
		}
		out = append(out, fmt.Sprintf("task %s %s, %d restarts (%s)", task, st.State, st.Restarts, strings.Join(evs, "; ")))
	}
	if len(out) == 0 {
		return ""
	}
	return " [" + strings.Join(out, "; ") + "]"
}

func (p *Pool) votersBack(ctx context.Context) bool {
	powered := map[string]bool{}
	for _, n := range p.Cluster.Servers() {
		if n.Powered() {
			powered[n.IP] = true
		}
	}
	nr, err := p.Nomad.Operator().RaftGetConfiguration((&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false
	}
	cr, err := p.Consul.Operator().RaftGetConfiguration((&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false
	}
	for _, set := range [][]string{voterHosts(len(nr.Servers), func(i int) (string, bool) { return nr.Servers[i].Address, nr.Servers[i].Voter }),
		voterHosts(len(cr.Servers), func(i int) (string, bool) { return cr.Servers[i].Address, cr.Servers[i].Voter })} {
		n := 0
		for _, h := range set {
			if powered[h] {
				n++
			}
		}
		if n != len(powered) {
			return false
		}
	}
	// A leader: the Raft configurations were read from one.
	return len(nr.Servers) > 0 && len(cr.Servers) > 0
}

func voterHosts(n int, at func(int) (string, bool)) []string {
	var out []string
	for i := range n {
		addr, voter := at(i)
		if host, _, err := net.SplitHostPort(addr); err == nil && voter {
			out = append(out, host)
		}
	}
	return out
}

func (p *Pool) databaseHealthy(ctx context.Context) bool {
	s, err := ReadDatabase(ctx, p.Consul, p.Pool.Name)
	return err == nil && s.Healthy(p.Pool.Database.Instances)
}

// coin is the pool definition's coin p mines (New makes sure there is
// one).
func (p *Pool) coin() *config.Coin {
	for _, c := range p.Pool.Coins {
		if c.Name == p.Coin {
			return c
		}
	}
	return nil
}

func (p *Pool) servicesPassing(ctx context.Context) bool {
	coin := p.coin()
	want := map[string]int{
		contract.WalletService(p.Coin):        coin.Wallet.Instances,
		contract.StratumService(p.Coin):       coin.Stratum.Instances,
		contract.DatabaseService(p.Pool.Name): p.Pool.Database.Instances,
	}
	for service, n := range want {
		if all, _ := p.passing(ctx, service, ""); all != n {
			return false
		}
	}
	return true
}

func (p *Pool) restartedSince(ctx context.Context, since time.Time) bool {
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	jobs, _, err := p.Nomad.Jobs().List(q)
	if err != nil {
		return false
	}
	for _, j := range jobs {
		if j.Type != "service" || j.Stop {
			continue
		}
		allocs, _, err := p.Nomad.Jobs().Allocations(j.ID, false, q)
		if err != nil {
			return false
		}
		running := 0
		for _, a := range allocs {
			if a.DesiredStatus != "run" || a.ClientStatus == "lost" || a.ClientStatus == "unknown" {
				continue
			}
			if a.ClientStatus != "running" {
				return false
			}
			for _, st := range a.TaskStates {
				if st.State == "running" && st.StartedAt.Before(since) {
					return false
				}
			}
			running++
		}
		if running == 0 {
			return false
		}
	}
	return true
}

// mine runs a miner as worker until ctx ends, counting its accepted
// shares; first, when set, is closed at the first. Each connection goes
// to a stratum instance Consul has passing, as miners reach the pool's
// floating address wherever it is.
func (p *Pool) mine(ctx context.Context, worker string, accepted *atomic.Int64, first chan struct{}) <-chan struct{} {
	m := miner.New(miner.Options{
		Addr: contract.StratumService(p.Coin), User: p.Address + "." + worker, Password: "x", Threads: 1,
		Reconnect: time.Second,
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		OnEvent: func(e miner.Event) {
			if e.Kind == "accepted" && accepted.Add(1) == 1 && first != nil {
				close(first)
			}
		},
		Dial: p.dialStratum,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = m.Run(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return done
}

func (p *Pool) dialStratum(ctx context.Context, _ string) (net.Conn, error) {
	entries, _, err := p.Consul.Health().Service(contract.StratumService(p.Coin), "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range entries {
		d := net.Dialer{Timeout: 3 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(e.Service.Address, fmt.Sprint(e.Service.Port)))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no stratum instance passing")
	}
	return nil, errors.Join(errs...)
}

// sharesOf counts the miner's shares of worker in the database (-1: the
// database does not answer).
func (p *Pool) sharesOf(ctx context.Context, worker string) int64 {
	db, err := p.open()
	if err != nil {
		return -1
	}
	defer db.Close()
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var n int64
	if err := db.QueryRow(qctx, "SELECT count(*) FROM shares WHERE address = $1 AND worker = $2", p.Address, worker).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (p *Pool) open() (*pgxpool.Pool, error) {
	return ledger.Open(p.dsn, p.Consul, contract.DatabaseService(p.Pool.Name), 2)
}

// wait polls ok until it holds, for at most p.Wait; each call has 5 s
// (an agent that lost power answers nothing, not even a refusal).
func (p *Pool) wait(ctx context.Context, what string, ok func(context.Context) bool) error {
	deadline := time.Now().Add(p.Wait)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		done := ok(callCtx)
		cancel()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", p.Wait, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func without(list, drop []string) []string {
	var out []string
	for _, x := range list {
		if !contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// describe says what the checks of the wallets, the stratum servers and
// the database say now, for a scenario that gave up waiting.
func (p *Pool) describe(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var lines []string
	for _, service := range []string{contract.WalletService(p.Coin), contract.StratumService(p.Coin), contract.DatabaseService(p.Pool.Name)} {
		entries, _, err := p.Consul.Health().Service(service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s: %v", service, err))
			continue
		}
		for _, e := range entries {
			for _, c := range e.Checks {
				if c.ServiceID == "" {
					continue
				}
				lines = append(lines, fmt.Sprintf("%s on %s: %s %s: %s", service, e.Node.Node, c.Name, c.Status, strings.TrimSpace(c.Output)))
			}
		}
	}
	if len(lines) == 0 {
		return "no instance of the wallets, stratum servers or database registered"
	}
	return "checks now:\n" + strings.Join(lines, "\n")
}

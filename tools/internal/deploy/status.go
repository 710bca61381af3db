package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/story"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletprobe"
)

// serfHealth is the check Consul keeps of every node's agent.
const serfHealth = "serfHealth"

// silentNodes are the Nomad nodes whose Consul agent does not answer, by
// name, with why: its serfHealth check is critical (the gossip lost it),
// or Consul has no such node at all (a node that did not come back when
// the whole cluster restarted: the new leader reaps what no agent
// gossips about). A Nomad node is Consul's when they share its name or
// its address; when no Nomad node is Consul's, nothing is said.
func silentNodes(nodes []*nomadapi.NodeListStub, critical consulapi.HealthChecks, catalog []*consulapi.Node) map[string]string {
	names, addrs := map[string]bool{}, map[string]string{}
	for _, n := range catalog {
		names[n.Node] = true
		addrs[n.Address] = n.Node
	}
	failing := map[string]bool{}
	for _, chk := range critical {
		if chk.CheckID == serfHealth {
			failing[chk.Node] = true
		}
	}
	out := map[string]string{}
	matched := false
	for _, n := range nodes {
		consulName, known := n.Name, names[n.Name]
		if !known && addrs[n.Address] != "" {
			consulName, known = addrs[n.Address], true
		}
		matched = matched || known
		switch {
		case !known:
			out[n.Name] = "Consul has no agent of it"
		case failing[consulName]:
			out[n.Name] = "Consul's gossip no longer reaches its agent"
		}
	}
	if !matched {
		return nil
	}
	return out
}

// Status is one screen of the pool: nodes, jobs, allocations and the
// Consul checks of every service, as the APIs report them now.
type Status struct {
	Pool      string
	Nodes     []*nomadapi.NodeListStub
	Jobs      []JobStatus
	Services  []ServiceStatus
	Wallets   []WalletStatus
	Runs      []RunStatus
	PoolCheck *consulapi.HealthCheck
	// Database is the replicated database's cluster state as Patroni
	// keeps it in Consul; when it could not be read, DatabaseError says
	// why in one line.
	Database      *dbcluster.View
	DatabaseError string
	// Archive is what the database's archive last published (nil: never),
	// ArchiveError why it could not be read.
	Archive      *dbarchive.Info
	ArchiveError string
	ArchiveRead  time.Time
	// Restore is the last restore the operator asked for (nil: none),
	// RestoreError why it could not be read.
	Restore      *dbmember.RestoreRequest
	RestoreError string
	// Events are what happened since Since: nodes down and back, tasks a
	// restart found dead, allocations lost, periodic slots missed and
	// caught up, database promotions (in no order; Write sorts them).
	Events []story.Event
	Since  time.Time
	// Silent are the nodes whose Consul agent does not answer, by Nomad
	// node name, with why Consul says so; nil when Consul could not say.
	Silent map[string]string
	// Read is when the status was read.
	Read time.Time
}

// RunStatus is a periodic ledger job's last run, as the run recorded it
// in Consul, and its latest launch as Nomad knows it.
type RunStatus struct {
	JobID  string
	Coin   string
	Kind   jobspec.Kind
	Record *payout.Record
	// LatestLaunch is the newest child job and its status: a run killed
	// before it could record anything shows here.
	LatestLaunch, LatestStatus string
	Next                       time.Time
	// Launches are the launch times of every child Nomad still keeps.
	Launches []time.Time
	job      *nomadapi.Job
}

// WalletStatus is one wallet instance: what its Consul checks say and what
// its probe last saw.
type WalletStatus struct {
	Coin     string
	Instance string
	Node     string
	Address  string
	Checks   map[string]*consulapi.HealthCheck
	Report   *walletprobe.Report
	// ProbeError says why the probe's report is missing.
	ProbeError string
}

// JobStatus is a job of the pool and its allocations.
type JobStatus struct {
	ID         string
	Kind       jobspec.Kind
	Registered bool
	// NotDeployable says why the job is not deployed yet, if it is not.
	NotDeployable string
	Job           *nomadapi.Job
	Deployment    *nomadapi.Deployment
	Allocs        []*nomadapi.AllocationListStub
	NextLaunch    time.Time
	// Causes explain the latest failed allocation, when the job has no
	// running one: why a wallet never started.
	Causes []string
}

// ServiceStatus is a Consul service with its instances' checks.
type ServiceStatus struct {
	Name      string
	Instances []*consulapi.ServiceEntry
}

// ReadStatus gathers the status of the pool's jobs from the clusters;
// databaseInstances is how many database instances the pool runs; events
// are told from since on.
func ReadStatus(ctx context.Context, c *Clients, pool string, jobs []*jobspec.Job, implemented func(string) bool, databaseInstances int, since time.Time) (*Status, error) {
	s := &Status{Pool: pool, Since: since, Read: time.Now()}
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	cq := (&consulapi.QueryOptions{}).WithContext(ctx)
	nodes, _, err := c.Nomad.Nodes().List(q)
	if err != nil {
		return nil, APIError(c.NomadAt, "list nodes", err)
	}
	sort.Slice(nodes, func(i, k int) bool { return nodes[i].Name < nodes[k].Name })
	s.Nodes = nodes
	// Consul's gossip notices a dead node within seconds; Nomad counts it
	// ready until its heartbeat runs out (after a leader election,
	// failover_heartbeat_ttl: minutes). Without an answer, status goes on
	// without this.
	critical, _, err1 := c.Consul.Health().State(consulapi.HealthCritical, cq)
	catalog, _, err2 := c.Consul.Catalog().Nodes(cq)
	if err1 == nil && err2 == nil {
		s.Silent = silentNodes(nodes, critical, catalog)
	}
	for _, j := range jobs {
		js := JobStatus{ID: j.ID(), Kind: j.Kind}
		if j.Subcommand != "" && !implemented(j.Subcommand) {
			js.NotDeployable = "poolctl " + j.Subcommand + " not implemented yet"
		}
		info, _, err := c.Nomad.Jobs().Info(j.ID(), q)
		if err != nil {
			if !strings.Contains(err.Error(), "404") {
				return nil, APIError(c.NomadAt, fmt.Sprintf("read job %q", j.ID()), err)
			}
		} else {
			js.Registered, js.Job = true, info
			if d, _, err := c.Nomad.Jobs().LatestDeployment(j.ID(), q); err == nil {
				js.Deployment = d
			}
			allocs, _, err := c.Nomad.Jobs().Allocations(j.ID(), false, q)
			if err != nil {
				return nil, APIError(c.NomadAt, fmt.Sprintf("list allocations of %q", j.ID()), err)
			}
			js.Allocs = allocs
			js.Causes = latestFailureCauses(ctx, c, allocs)
			if j.Periodic() && info.Periodic != nil {
				if next, err := info.Periodic.Next(time.Now().UTC()); err == nil {
					js.NextLaunch = next
				}
			}
		}
		s.Jobs = append(s.Jobs, js)
		for _, name := range j.Services {
			entries, _, err := c.Consul.Health().Service(name, "", false, cq)
			if err != nil {
				return nil, APIError(c.ConsulAt, fmt.Sprintf("read health of %q", name), err)
			}
			s.Services = append(s.Services, ServiceStatus{Name: name, Instances: entries})
		}
	}
	for _, j := range jobs {
		if j.Kind != jobspec.KindWallet {
			continue
		}
		s.Wallets = append(s.Wallets, readWallets(ctx, c, j.Coin)...)
	}
	for _, js := range s.Jobs {
		if js.Job == nil || js.Job.Periodic == nil || !js.Registered {
			continue
		}
		r, err := readRun(ctx, c, pool, js)
		if err != nil {
			return nil, err
		}
		s.Runs = append(s.Runs, r)
	}
	// A database state the token may not read is one line of the status,
	// not the end of it.
	if view, err := dbcluster.Read(ctx, c.Consul.KV(), pool, databaseInstances); err != nil {
		s.DatabaseError = APIError(c.ConsulAt, "read the database's cluster state", err).Error()
	} else {
		s.Database = view
	}
	s.Archive, s.ArchiveError = readArchive(ctx, c, pool)
	s.ArchiveRead = time.Now()
	s.Restore, s.RestoreError = readRestore(ctx, c, pool)
	check, err := poolcheck.Current(c.Consul, pool)
	if err != nil {
		return nil, APIError(c.ConsulAt, "read the pool's check", err)
	}
	s.PoolCheck = check
	s.tell(ctx, c)
	return s, nil
}

// tell gathers the recent events from what was read, and the nodes'
// own event lists.
func (s *Status) tell(ctx context.Context, c *Clients) {
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	var nodes []*nomadapi.Node
	for _, n := range s.Nodes {
		node, _, err := c.Nomad.Nodes().Info(n.ID, q)
		if err != nil {
			// A node collected since the list, or an agent that does not
			// answer: its events are left out, the rest is told.
			continue
		}
		nodes = append(nodes, node)
	}
	s.Events = story.Nodes(nodes, s.Since)
	s.Events = append(s.Events, story.Silent(s.Nodes, s.Silent, s.Read)...)
	for _, j := range s.Jobs {
		s.Events = append(s.Events, story.Allocs(j.Allocs, s.Since)...)
	}
	for _, r := range s.Runs {
		job := r.job
		if job == nil {
			continue
		}
		p := job.Periodic
		if p == nil || p.SpecType == nil || p.Spec == nil || (job.Stop != nil && *job.Stop) || (p.Enabled != nil && !*p.Enabled) {
			continue // no schedule to miss
		}
		loc, err := p.GetLocation()
		if err != nil {
			continue
		}
		// The schedule is in the job's time zone, not this machine's.
		next := func(t time.Time) (time.Time, error) { return p.Next(t.In(loc)) }
		var registered time.Time
		if job.SubmitTime != nil {
			registered = time.Unix(0, *job.SubmitTime)
		}
		s.Events = append(s.Events, story.Slots(r.JobID, next, r.Launches, registered, s.Since, time.Now())...)
	}
	if s.Database != nil {
		s.Events = append(s.Events, story.Database(s.Database.History, s.Since)...)
	}
}

// readRun reads a ledger job's last recorded run and its newest launch.
func readRun(ctx context.Context, c *Clients, pool string, js JobStatus) (RunStatus, error) {
	r := RunStatus{JobID: js.ID, Kind: js.Kind, Next: js.NextLaunch, job: js.Job}
	if js.Job != nil && js.Job.Meta != nil {
		r.Coin = js.Job.Meta[contract.MetaCoin]
	}
	pair, _, err := c.Consul.KV().Get(contract.RecordKey(pool, r.Coin, string(js.Kind)), (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return r, APIError(c.ConsulAt, "read the last run of "+js.ID, err)
	}
	if pair != nil {
		var rec payout.Record
		if err := json.Unmarshal(pair.Value, &rec); err == nil {
			r.Record = &rec
		}
	}
	children, _, err := c.Nomad.Jobs().PrefixList(story.LaunchPrefix(js.ID))
	if err != nil {
		return r, APIError(c.NomadAt, "list the launches of "+js.ID, err)
	}
	for _, child := range children {
		if child.ParentID != js.ID {
			continue
		}
		if at, ok := story.LaunchTime(js.ID, child.ID); ok {
			r.Launches = append(r.Launches, at)
		}
		if child.ID > r.LatestLaunch { // periodic-<unix time>
			r.LatestLaunch, r.LatestStatus = child.ID, child.Status
			if child.JobSummary != nil {
				for _, tg := range child.JobSummary.Summary {
					switch {
					case tg.Failed > 0 || tg.Lost > 0:
						r.LatestStatus = "failed"
					case tg.Complete > 0:
						r.LatestStatus = "complete"
					}
				}
			}
		}
	}
	return r, nil
}

// latestFailureCauses explains the newest failed allocation of a job that
// has nothing running: the task events and last words of what failed.
func latestFailureCauses(ctx context.Context, c *Clients, allocs []*nomadapi.AllocationListStub) []string {
	var latest *nomadapi.AllocationListStub
	for _, a := range allocs {
		switch a.ClientStatus {
		case "running":
			return nil
		case "failed":
			if latest == nil || a.CreateIndex > latest.CreateIndex {
				latest = a
			}
		}
	}
	if latest == nil {
		return nil
	}
	return allocCauses(ctx, c, latest.ID, latest.Name)
}

// readWallets asks every wallet instance's probe for its report, in
// parallel, each briefly: a probe that does not answer is itself news.
func readWallets(ctx context.Context, c *Clients, coin string) []WalletStatus {
	entries, _, err := c.Consul.Health().Service(contract.WalletService(coin), "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil
	}
	out := make([]WalletStatus, len(entries))
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 2 * time.Second}
	for i, e := range entries {
		w := WalletStatus{
			Coin: coin, Instance: e.Service.Meta["instance"], Node: e.Node.Node,
			Address: fmt.Sprintf("%s:%d", e.Service.Address, e.Service.Port),
			Checks:  map[string]*consulapi.HealthCheck{},
		}
		for _, chk := range e.Checks {
			if chk.ServiceID != "" {
				w.Checks[chk.Name] = chk
			}
		}
		out[i] = w
		probe := e.Service.Meta[contract.WalletProbeMeta]
		if probe == "" {
			out[i].ProbeError = "no probe registered"
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := walletprobe.FetchReport(ctx, client, probe)
			if err != nil {
				out[i].ProbeError = err.Error()
				return
			}
			out[i].Report = r
		}(i)
	}
	wg.Wait()
	sort.Slice(out, func(a, b int) bool { return out[a].Instance < out[b].Instance })
	return out
}

// Write prints the status as tables.
func (s *Status) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if s.PoolCheck != nil {
		fmt.Fprintf(tw, "Pool %s: %s\n", s.Pool, s.PoolCheck.Status)
		for _, line := range strings.Split(s.PoolCheck.Output, "\n") {
			fmt.Fprintf(tw, "  %s\n", line)
		}
	} else {
		fmt.Fprintf(tw, "Pool %s: never deployed (no pool check in Consul)\n", s.Pool)
	}
	if s.Database != nil {
		if v := s.Database.Judge(); v.Loud {
			fmt.Fprintf(tw, "  database: %s\n", v.Line)
		}
	}
	if line, ok := s.site(); ok {
		fmt.Fprintf(tw, "  site: %s\n", line)
	}

	fmt.Fprintln(tw, "\nNodes")
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATUS\tELIGIBILITY\tDATACENTER\tEXEC DRIVER")
	for _, n := range s.Nodes {
		exec := "missing"
		if d := n.Drivers["exec"]; d != nil {
			exec = "unhealthy"
			if d.Healthy {
				exec = "healthy"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Address, n.Status, n.SchedulingEligibility, n.Datacenter, exec)
	}

	fmt.Fprintln(tw, "\nJobs")
	fmt.Fprintln(tw, "JOB\tKIND\tTYPE\tSTATUS\tVERSION\tDEPLOYMENT\tRUNNING\tFAILED\tNEXT RUN")
	for _, j := range s.Jobs {
		if !j.Registered {
			why := "not registered"
			if j.NotDeployable != "" {
				why = "not deployable yet (" + j.NotDeployable + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\t-\t-\t-\t-\t-\n", j.ID, j.Kind, why)
			continue
		}
		deployment := "-"
		if j.Deployment != nil {
			deployment = j.Deployment.Status
		}
		running, failed := 0, 0
		for _, a := range j.Allocs {
			switch a.ClientStatus {
			case "running":
				running++
			case "failed":
				failed++
			}
		}
		next := "-"
		if !j.NextLaunch.IsZero() {
			next = j.NextLaunch.Format("2006-01-02 15:04 MST")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%d\t%s\n", j.ID, j.Kind, deref(j.Job.Type), deref(j.Job.Status), derefInt(j.Job.Version), deployment, running, failed, next)
	}

	for _, j := range s.Jobs {
		for _, cause := range j.Causes {
			fmt.Fprintf(tw, "  %s failed: %s\n", j.ID, cause)
		}
	}

	fmt.Fprintln(tw, "\nAllocations (live, and the last failures)")
	fmt.Fprintln(tw, "ID\tNAME\tNODE\tSTATUS\tHEALTHY\tAGE")
	for _, j := range s.Jobs {
		for _, a := range liveAndRecent(j.Allocs) {
			healthy := "-"
			if a.DeploymentStatus != nil && a.DeploymentStatus.Healthy != nil {
				healthy = fmt.Sprint(*a.DeploymentStatus.Healthy)
			}
			age := time.Since(time.Unix(0, a.CreateTime)).Round(time.Second)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", short(a.ID), a.Name, a.NodeName, a.ClientStatus, healthy, age)
		}
	}

	if len(s.Wallets) > 0 {
		fmt.Fprintln(tw, "\nWallets")
		fmt.Fprintln(tw, "COIN\tINSTANCE\tRPC\tHEIGHT\tLAG\tTIP AGE\tPEERS\tRPC ANSWERS\tIN SYNC")
		for _, w := range s.Wallets {
			status := func(name string) string {
				if chk := w.Checks[name]; chk != nil {
					return chk.Status
				}
				return "-"
			}
			height, lag, tip, peers := "-", "-", "-", "-"
			if r := w.Report; r != nil {
				height, lag, peers = fmt.Sprint(r.Height), fmt.Sprint(r.Lag), fmt.Sprint(r.Peers)
				if !r.TipTime.IsZero() {
					tip = shortDuration(time.Since(r.TipTime))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.Coin, w.Instance, w.Address, height, lag, tip, peers,
				status(jobspec.CheckLive), status(jobspec.CheckSync))
		}
		for _, w := range s.Wallets {
			switch {
			case w.Report != nil && w.Report.Sync.Status != "passing":
				fmt.Fprintf(tw, "  %s wallet %s: %s\n", w.Coin, w.Instance, w.Report.Sync.Reason)
			case w.ProbeError != "":
				fmt.Fprintf(tw, "  %s wallet %s: probe unreachable: %s\n", w.Coin, w.Instance, w.ProbeError)
			}
		}
	}

	switch {
	case s.DatabaseError != "":
		fmt.Fprintf(tw, "\nDatabase\n  %s\n", s.DatabaseError)
	case s.Database != nil:
		// The section aligns its own table.
		tw.Flush()
		fmt.Fprintln(w)
		s.Database.Write(w)
	}

	writeArchive(tw, s.Archive, s.ArchiveError, s.ArchiveRead)
	writeRestore(tw, s.Restore, s.RestoreError)

	if len(s.Runs) > 0 {
		fmt.Fprintln(tw, "\nPeriodic runs")
		fmt.Fprintln(tw, "JOB\tLAST RUN\tOUTCOME\tLATEST LAUNCH\tNEXT RUN\tOWED\tMINERS OWED\tHELD")
		for _, r := range s.Runs {
			last, outcome, owed, miners, held := "never", "-", "-", "-", "-"
			if rec := r.Record; rec != nil {
				last = rec.Finished.Format("2006-01-02 15:04:05 MST")
				outcome = rec.Outcome
				if r.Kind == jobspec.KindPayout || r.Kind == jobspec.KindBlocks {
					owed = string(payout.Coins(rec.OwedUnits, config.Chains["litecoin"].UnitsPerCoin))
					miners, held = fmt.Sprint(rec.OwedMiners), fmt.Sprint(len(rec.Held))
				}
			}
			latest := "-"
			if r.LatestLaunch != "" {
				latest = strings.TrimPrefix(r.LatestLaunch, r.JobID+"/") + " " + r.LatestStatus
			}
			next := "-"
			if !r.Next.IsZero() {
				next = r.Next.Format("2006-01-02 15:04 MST")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.JobID, last, outcome, latest, next, owed, miners, held)
		}
		for _, r := range s.Runs {
			if r.Record == nil {
				continue
			}
			fmt.Fprintf(tw, "  %s: %s\n", r.JobID, r.Record.Message)
			for _, line := range r.Record.Lines {
				fmt.Fprintf(tw, "  %s: %s\n", r.JobID, line)
			}
			for addr, why := range r.Record.Held {
				fmt.Fprintf(tw, "  %s held %s: %s\n", r.JobID, addr, why)
			}
			if r.Kind == jobspec.KindPayout {
				for _, b := range r.Record.Owing {
					fmt.Fprintf(tw, "  %s pending %s: %s\n", r.JobID, b.Address, payout.Coins(b.Units, config.Chains["litecoin"].UnitsPerCoin))
				}
			}
		}
	}

	fmt.Fprintln(tw, "\nConsul services")
	fmt.Fprintln(tw, "SERVICE\tINSTANCE\tCHECK\tSTATUS")
	for _, svc := range s.Services {
		if len(svc.Instances) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\tno instances\n", svc.Name)
		}
		for _, e := range svc.Instances {
			addr := fmt.Sprintf("%s:%d", e.Service.Address, e.Service.Port)
			for _, chk := range e.Checks {
				if chk.ServiceID == "" {
					continue // node checks (serf health)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", svc.Name, addr, chk.Name, chk.Status)
			}
		}
	}
	tw.Flush()
	if !s.Since.IsZero() {
		story.Write(w, s.Events, s.Since)
	}
}

// site says where the pool's web servers answer (the pages, and
// MiningCore's API under /api/): the address of each instance whose
// checks pass. ok is false when the pool has no web job.
func (s *Status) site() (string, bool) {
	for _, svc := range s.Services {
		if svc.Name != contract.WebService(s.Pool) {
			continue
		}
		var urls []string
		for _, e := range svc.Instances {
			if e.Checks.AggregatedStatus() == consulapi.HealthPassing {
				urls = append(urls, fmt.Sprintf("http://%s/", net.JoinHostPort(e.Service.Address, strconv.Itoa(e.Service.Port))))
			}
		}
		if len(urls) == 0 {
			return fmt.Sprintf("no web server passing its check (%d registered)", len(svc.Instances)), true
		}
		return strings.Join(urls, " "), true
	}
	return "", false
}

// liveAndRecent keeps an allocation list to what an operator needs: what
// runs or is starting, and the latest few that failed.
func liveAndRecent(allocs []*nomadapi.AllocationListStub) []*nomadapi.AllocationListStub {
	sort.Slice(allocs, func(i, k int) bool { return allocs[i].CreateIndex > allocs[k].CreateIndex })
	var out []*nomadapi.AllocationListStub
	failed := 0
	for _, a := range allocs {
		switch a.ClientStatus {
		case "running", "pending":
			out = append(out, a)
		case "failed", "lost":
			if failed < 2 {
				out = append(out, a)
				failed++
			}
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func derefInt(i *uint64) uint64 {
	if i == nil {
		return 0
	}
	return *i
}

// shortDuration writes an age the way people say it: 45s, 12m, 3h, 9d.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

package stratum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/journal"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// RunOptions are what `poolctl stratum` runs with.
type RunOptions struct {
	Config Config
	// Listen is where miners connect; MetricsListen serves /metrics and
	// the stratum-level check /v1/check.
	Listen, MetricsListen string

	// Consul finds the wallets (WalletService), the database
	// (DatabaseService) and the other stratum instances (StratumService,
	// where miners are sent on shutdown); nil with static Wallets and
	// DatabaseURL.
	Consul          *consulapi.Client
	WalletService   string
	DatabaseService string
	StratumService  string
	Wallets         []string

	WalletUser, WalletPassword string
	// DatabaseURL is a postgres:// URL; with DatabaseService its host and
	// port are replaced by the service's on every connection.
	DatabaseURL string

	// PoolAddress is where block rewards go. Empty: the first wallet's
	// new address, kept in Consul KV at PoolAddressKey so that every
	// instance and every restart pays the same one.
	PoolAddress    string
	PoolAddressKey string
	CoinbaseTag    string

	// FloatingAddress is the pool's floating address (an IP, no port), or
	// "": the server also listens on it, at Listen's port, and on shutdown
	// sends miners there instead of to another instance's node address.
	FloatingAddress string

	// Drain is how long miners get to leave after client.reconnect.
	Drain time.Duration

	// ShareJournal is a directory on local disk (package journal): a
	// share is answered "accepted" only once it is there, and what an
	// earlier process accepted but never wrote is written at start.
	// Empty: no journal.
	ShareJournal string
}

// Run serves miners until ctx ends, then sends them elsewhere and writes
// what it holds to the database.
func Run(ctx context.Context, o RunOptions) error {
	log := o.Config.Log
	// Unless GOMEMLIMIT says otherwise, the collector keeps the heap
	// within the task's memory (see goMemoryLimit).
	if limit := o.Config.MemoryLimitMiB; limit > 0 && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(goMemoryLimit(limit))
		log.Info("Go memory limit set within the task's", "go_memory_limit_mib", goMemoryLimit(limit)>>20, "memory_limit_mib", limit)
	}
	floating, err := FloatingHostport(o.FloatingAddress, o.Listen)
	if err != nil {
		return err
	}
	listener, err := ListenMiners(ctx, o.Listen, floating)
	if err != nil {
		return err
	}
	defer listener.Close()
	metricsListener, err := net.Listen("tcp", o.MetricsListen)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", o.MetricsListen, err)
	}
	defer metricsListener.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := NewMetrics(reg)

	db, err := ledger.Open(o.DatabaseURL, o.Consul, o.DatabaseService, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	wopts := ledger.WriterOptions{Logger: log}
	if o.ShareJournal != "" {
		j, err := journal.Open(o.ShareJournal, journal.Options{})
		if err != nil {
			return err
		}
		// Closed after the writer's final flush (deferred calls run last
		// in first out): what that flush could not write stays for the
		// next start.
		defer func() {
			if err := j.Close(); err != nil {
				log.Error("share journal", "err", err)
			}
		}()
		wopts.Journal = j
		reg.MustRegister(journalCollector{j})
	}
	writer := ledger.NewWriter(db, wopts)
	if _, _, err := writer.Replay(); err != nil {
		return fmt.Errorf("share journal %s: %w", o.ShareJournal, err)
	}
	reg.MustRegister(writerCollector{writer})
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan error, 1)
	go func() { writerDone <- runLedger(writerCtx, db, writer, log) }()

	var finder WalletFinder = StaticWallets(o.Wallets)
	if o.Consul != nil && o.WalletService != "" {
		cw := &ConsulWallets{Consul: o.Consul, Service: o.WalletService}
		go cw.Run(ctx, log.Warn)
		finder = cw
	}
	// One client per wallet, so that its connections are reused: the tip
	// is polled twice a second and a client holds its own transport.
	var clientsMu sync.Mutex
	clients := map[string]*chain.Client{}
	dial := func(hostport string) *chain.Client {
		clientsMu.Lock()
		defer clientsMu.Unlock()
		c, ok := clients[hostport]
		if !ok {
			c = chain.NewClient(hostport, o.WalletUser, o.WalletPassword)
			clients[hostport] = c
		}
		return c
	}

	address, err := poolAddress(ctx, o, finder, dial)
	if err != nil {
		stopWriter()
		<-writerDone
		return err
	}
	script, err := chain.OutputScript(address, o.Config.Network)
	if err != nil {
		stopWriter()
		<-writerDone
		return fmt.Errorf("pool address %q: %w", address, err)
	}
	log.Info("block rewards go to the pool address", "address", address)

	srv := New(o.Config, writer, nil, metrics)
	src := &Source{
		Server: srv, Wallets: finder, Dial: dial, PayoutScript: script,
		CoinbaseTag: []byte(o.CoinbaseTag),
		Poll:        500 * time.Millisecond, Refresh: 30 * time.Second,
		RPCTimeout: 2 * time.Second, Avoid: 10 * time.Second, Log: log,
	}
	srv.blocks = src

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/v1/check", func(w http.ResponseWriter, r *http.Request) {
		if wopts.Journal != nil {
			if err := wopts.Journal.Err(); err != nil {
				// Every share is refused: send miners elsewhere.
				http.Error(w, "share journal: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		if err := Check(r.Context(), listener.Addr().String(), 3*time.Second); err != nil {
			// Up but without work is a warning in Consul (429): a new
			// pool's deployment succeeds while its wallets download the
			// chain, and miners are not sent here meanwhile by the pool's
			// check, which is degraded until work comes.
			code := http.StatusServiceUnavailable
			if errors.Is(err, ErrNoWork) {
				code = http.StatusTooManyRequests
			}
			http.Error(w, err.Error(), code)
			return
		}
		fmt.Fprintf(w, "stratum answers: subscribe and notify; %d miners; work from %s\n", srv.Connections(), src.Current())
	})
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second}
	go func() { _ = httpSrv.Serve(metricsListener) }()

	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	go func() { _ = src.Run(serveCtx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, listener) }()
	log.Info("stratum server listening", "miners", listener.Addr().String(), "floating", floating, "metrics", metricsListener.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-served:
		stopServe()
		stopWriter()
		<-writerDone
		return err
	}
	// Shut down: stop taking miners, send the ones here to the floating
	// address (by now on another node: this instance left Consul a
	// shutdown_delay ago, and keepalived follows its check) or to another
	// instance, let them go, then write every accepted share.
	listener.Close()
	reconnectTo := floating
	if reconnectTo == "" {
		reconnectTo = otherInstance(o)
	}
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), o.Drain)
	srv.Shutdown(drainCtx, reconnectTo)
	cancelDrain()
	stopServe()
	stopWriter()
	err = <-writerDone
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(shutdownCtx)
	return err
}

// runLedger creates the schema (retrying while the database is away) and
// then writes shares until ctx ends; the writer buffers meanwhile.
func runLedger(ctx context.Context, db *pgxpool.Pool, w *ledger.Writer, log *slog.Logger) error {
	logged := false
	for {
		err := ledger.Migrate(ctx, db)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
		if !logged {
			log.Warn("database not ready; shares are buffered meanwhile", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return w.Run(ctx)
}

// poolAddress is the configured address, or the one every instance shares
// through Consul KV, made by a wallet the first time.
func poolAddress(ctx context.Context, o RunOptions, finder WalletFinder, dial func(string) *chain.Client) (string, error) {
	if o.PoolAddress != "" {
		return o.PoolAddress, nil
	}
	if o.Consul == nil || o.PoolAddressKey == "" {
		return "", errors.New("no pool address: give --pool-address, or Consul to keep one made by a wallet")
	}
	kv := o.Consul.KV()
	logged := false
	for {
		pair, _, err := kv.Get(o.PoolAddressKey, (&consulapi.QueryOptions{}).WithContext(ctx))
		if err == nil && pair != nil && len(pair.Value) > 0 {
			addr := string(pair.Value)
			if err := verifyOwned(ctx, addr, o.PoolAddressKey, finder, dial, o.Config.Log.Warn); err != nil {
				return "", err
			}
			return addr, nil
		}
		if err == nil {
			err = makePoolAddress(ctx, o, finder, dial)
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if !logged {
			o.Config.Log.Warn("waiting for a wallet to make the pool address", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func makePoolAddress(ctx context.Context, o RunOptions, finder WalletFinder, dial func(string) *chain.Client) error {
	passing, all := finder.Wallets()
	if len(passing) == 0 {
		passing = all
	}
	if len(passing) == 0 {
		return errors.New("no wallet registered yet")
	}
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addr, err := dial(passing[0]).NewAddress(callCtx)
	if err != nil {
		return fmt.Errorf("getnewaddress on %s: %w", passing[0], err)
	}
	// Check-and-set on index 0: the first instance's address wins.
	_, _, err = o.Consul.KV().CAS(&consulapi.KVPair{Key: o.PoolAddressKey, Value: []byte(addr)}, (&consulapi.WriteOptions{}).WithContext(ctx))
	return err
}

// otherInstance is another stratum server of the coin that passes its
// checks, for client.reconnect; "" sends miners back where they came from.
func otherInstance(o RunOptions) string {
	if o.Consul == nil || o.StratumService == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	entries, _, err := o.Consul.Health().Service(o.StratumService, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return ""
	}
	self := o.Listen
	for _, e := range entries {
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		hostport := net.JoinHostPort(addr, strconv.Itoa(e.Service.Port))
		if hostport != self {
			return hostport
		}
	}
	return ""
}

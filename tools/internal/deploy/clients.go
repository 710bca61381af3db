// Package deploy plans and deploys a pool's jobs on Nomad, records the pool
// in Consul, and reports its state: server-side validation and plans with
// diffs, registration in dependency order, deployments followed with
// blocking queries, and the causes of failures from task events.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/aclcheck"
)

// ConnOptions override what NOMAD_* and CONSUL_HTTP_* say; empty fields
// keep the environment's (or the default) value, as the nomad and consul
// CLIs do. Tokens are never defaulted or printed.
type ConnOptions struct {
	NomadAddress, NomadRegion, NomadNamespace, NomadToken string
	NomadCACert, NomadClientCert, NomadClientKey          string
	NomadTLSServerName                                    string
	NomadTLSSkipVerify                                    bool

	ConsulAddress, ConsulToken           string
	ConsulCACert, ConsulClientCert       string
	ConsulClientKey, ConsulTLSServerName string
	ConsulTLSSkipVerify                  bool

	// ReportDenied, when set, gets one line the first time Consul refuses
	// each kind of request (method and path): the long-running tasks set
	// it, as they retry what fails.
	ReportDenied io.Writer
}

// Clients are connected API clients for Nomad and Consul.
type Clients struct {
	Nomad  *nomadapi.Client
	Consul *consulapi.Client
	// ConsulConfig is what Consul was reached with (address, TLS, token).
	ConsulConfig *consulapi.Config
	// NomadAt and ConsulAt are where each API is reached, for errors.
	NomadAt, ConsulAt Endpoint
}

// Endpoint is an API as this command reaches it, so that an error can
// say what to set: which API ("nomad" or "consul"), its address, and the
// CA its certificate is checked against.
type Endpoint struct {
	API, Addr string
	// CAFile and CAPath are the CA file and directory that were set; with
	// neither, the system's CAs are trusted.
	CAFile, CAPath string
}

// NewNomad builds a Nomad client from the environment and o.
func NewNomad(o ConnOptions) (*nomadapi.Client, string, error) {
	c, at, err := newNomad(o)
	return c, at.Addr, err
}

func newNomad(o ConnOptions) (*nomadapi.Client, Endpoint, error) {
	cfg := nomadapi.DefaultConfig()
	set(&cfg.Address, o.NomadAddress)
	set(&cfg.Region, o.NomadRegion)
	set(&cfg.Namespace, o.NomadNamespace)
	set(&cfg.SecretID, o.NomadToken)
	set(&cfg.TLSConfig.CACert, o.NomadCACert)
	set(&cfg.TLSConfig.ClientCert, o.NomadClientCert)
	set(&cfg.TLSConfig.ClientKey, o.NomadClientKey)
	set(&cfg.TLSConfig.TLSServerName, o.NomadTLSServerName)
	if o.NomadTLSSkipVerify {
		cfg.TLSConfig.Insecure = true
	}
	at := Endpoint{API: "nomad", Addr: cfg.Address, CAFile: cfg.TLSConfig.CACert, CAPath: cfg.TLSConfig.CAPath}
	c, err := nomadapi.NewClient(cfg)
	if err != nil {
		return nil, at, fmt.Errorf("nomad at %s: %w", cfg.Address, err)
	}
	return c, at, nil
}

// NewConsul builds a Consul client from the environment and o.
func NewConsul(o ConnOptions) (*consulapi.Client, string, error) {
	c, at, _, err := newConsul(o)
	return c, at.Addr, err
}

func newConsul(o ConnOptions) (*consulapi.Client, Endpoint, *consulapi.Config, error) {
	cfg := consulapi.DefaultConfig()
	set(&cfg.Address, o.ConsulAddress)
	set(&cfg.Token, o.ConsulToken)
	set(&cfg.TLSConfig.CAFile, o.ConsulCACert)
	set(&cfg.TLSConfig.CertFile, o.ConsulClientCert)
	set(&cfg.TLSConfig.KeyFile, o.ConsulClientKey)
	set(&cfg.TLSConfig.Address, o.ConsulTLSServerName)
	if o.ConsulTLSSkipVerify {
		cfg.TLSConfig.InsecureSkipVerify = true
	}
	addr := cfg.Address
	if !strings.Contains(addr, "://") {
		addr = cfg.Scheme + "://" + addr
	}
	at := Endpoint{API: "consul", Addr: addr, CAFile: cfg.TLSConfig.CAFile, CAPath: cfg.TLSConfig.CAPath}
	if o.ReportDenied != nil {
		hc, err := consulapi.NewHttpClient(cfg.Transport, cfg.TLSConfig)
		if err != nil {
			return nil, at, cfg, fmt.Errorf("consul at %s: %w", addr, err)
		}
		hc.Transport = &deniedReporter{next: hc.Transport, at: at, out: o.ReportDenied, seen: map[string]bool{}}
		cfg.HttpClient = hc
	}
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		return nil, at, cfg, fmt.Errorf("consul at %s: %w", addr, err)
	}
	return c, at, cfg, nil
}

func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// Connect builds both clients and checks that each API answers and has a
// leader, so that a dead or refusing cluster is one clear line before
// anything is sent.
func Connect(ctx context.Context, o ConnOptions) (*Clients, error) {
	nomad, nat, err := newNomad(o)
	if err != nil {
		return nil, err
	}
	consul, cat, ccfg, err := newConsul(o)
	if err != nil {
		return nil, err
	}
	if _, err := nomad.Status().Leader(); err != nil {
		return nil, APIError(nat, "ask for its leader", err)
	}
	if _, err := consul.Status().LeaderWithQueryOptions((&consulapi.QueryOptions{}).WithContext(ctx)); err != nil {
		return nil, APIError(cat, "ask for its leader", err)
	}
	return &Clients{Nomad: nomad, Consul: consul, ConsulConfig: ccfg, NomadAt: nat, ConsulAt: cat}, nil
}

// apiError is one line saying which API failed, where, doing what, and
// why; it wraps the cause, so that a context's deadline or cancellation
// stays recognizable.
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// APIError says in one line which API failed, where, doing what, and why,
// with a hint for the usual causes.
func APIError(at Endpoint, doing string, err error) error {
	var opErr *net.OpError
	var urlErr *url.Error
	msg := err.Error()
	tlsMsg := tlsProblem(at, err)
	switch {
	case errors.Is(err, context.Canceled):
		msg = "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		msg = "out of time"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		msg = fmt.Sprintf("unreachable (%v); is it running, and is the address right?", opErr.Err)
	case errors.As(err, &urlErr) && urlErr.Timeout():
		msg = "no answer before the timeout"
	case tlsMsg != "":
		msg = tlsMsg
	case aclcheck.Forbidden(err):
		token := "NOMAD_TOKEN"
		if at.API == "consul" {
			token = "CONSUL_HTTP_TOKEN"
		}
		msg = fmt.Sprintf("permission denied; set %s to a token allowed to do this (%s)", token, firstLine(msg))
	case strings.Contains(msg, "No cluster leader"), strings.Contains(msg, "No path to region"):
		msg = "the servers have no leader (quorum lost?): " + firstLine(msg)
	default:
		msg = firstLine(msg)
	}
	return &apiError{msg: fmt.Sprintf("%s at %s: %s: %s", at.API, at.Addr, doing, msg), err: err}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

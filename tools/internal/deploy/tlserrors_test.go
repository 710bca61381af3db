package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A TLS failure reaching Nomad or Consul is one line saying what is wrong
// and what to set, checked against real TLS servers with certificates made
// here: the cluster's CA, another CA, an expired CA, and leaves that are
// expired, not yet valid, or for another host; and plain HTTP where HTTPS
// is expected and the other way round.
func TestTLSErrors(t *testing.T) {
	clearConnEnv(t)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })

	recent, later := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	old, oldEnd := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	future, futureEnd := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	local := []net.IP{net.ParseIP("127.0.0.1")}

	cluster := newCA(t, "scryptpool cluster CA", recent, later)
	other := newCA(t, "some other CA", recent, later)
	lapsed := newCA(t, "lapsed cluster CA", old, oldEnd)
	dir := t.TempDir()
	clusterPEM, otherPEM, lapsedPEM := cluster.write(t, dir, "ca.pem"), other.write(t, dir, "other-ca.pem"), lapsed.write(t, dir, "lapsed-ca.pem")

	good := serveTLS(t, cluster.issue(t, "server.global.nomad", []string{"server.global.nomad", "localhost"}, local, recent, later))
	byOther := serveTLS(t, other.issue(t, "server.global.nomad", nil, local, recent, later))
	expired := serveTLS(t, cluster.issue(t, "server.global.nomad", nil, local, old, oldEnd))
	notYet := serveTLS(t, cluster.issue(t, "server.dc1.consul", nil, local, future, futureEnd))
	elsewhere := serveTLS(t, cluster.issue(t, "server.global.nomad", []string{"server.global.nomad", "node-02"}, []net.IP{net.ParseIP("10.0.0.2")}, recent, later))
	byLapsed := serveTLS(t, lapsed.issue(t, "server.global.nomad", nil, local, recent, later))
	lapsedMiddle := cluster.intermediate(t, "lapsed intermediate CA", old, oldEnd)
	viaLapsed := lapsedMiddle.issue(t, "server.global.nomad", nil, local, recent, later)
	viaLapsed.Certificate = append(viaLapsed.Certificate, lapsedMiddle.cert.Raw)
	byLapsedMiddle := serveTLS(t, viaLapsed)
	clientOnly := serveTLS(t, cluster.issueFor(t, "client.global.nomad", nil, local, recent, later, x509.ExtKeyUsageClientAuth))
	plain := httptest.NewServer(leaderHandler())
	t.Cleanup(plain.Close)
	tlsAlert := serveTLSAlert(t)
	goodHostPort := strings.TrimPrefix(good, "https://")

	const unknownTail = "; set NOMAD_CACERT or --ca-cert to the cluster's CA (the inventory's secrets/pki/ca.pem)"
	for _, tc := range []struct {
		name string
		opts ConnOptions
		// want is the whole message; "" means Connect succeeds.
		want string
		// verification says the cause is a failed certificate check.
		verification bool
	}{
		{name: "right CA", opts: ConnOptions{NomadAddress: good, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: clusterPEM}},
		{
			name:         "nomad certificate from another CA",
			opts:         ConnOptions{NomadAddress: byOther, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + byOther + `: ask for its leader: its certificate is signed by "some other CA", not by a CA this command trusts (` + clusterPEM + ")" + unknownTail,
			verification: true,
		},
		{
			name:         "nomad with the system's CAs",
			opts:         ConnOptions{NomadAddress: good, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + good + `: ask for its leader: its certificate is signed by "scryptpool cluster CA", not by a CA this command trusts (the system's CAs, as no CA file is set)` + unknownTail,
			verification: true,
		},
		{
			name:         "consul trusting another CA",
			opts:         ConnOptions{NomadAddress: good, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: otherPEM},
			want:         "consul at " + good + `: ask for its leader: its certificate is signed by "scryptpool cluster CA", not by a CA this command trusts (` + otherPEM + "); set CONSUL_CACERT or --consul-ca-cert to the cluster's CA (the inventory's secrets/pki/ca.pem)",
			verification: true,
		},
		{
			name:         "expired certificate",
			opts:         ConnOptions{NomadAddress: expired, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + expired + `: ask for its leader: its certificate for "server.global.nomad" expired at 2021-01-01T00:00:00Z and this machine's clock says 2026-03-01T12:00:00Z; renew the agents' certificates (delete the inventory's secrets/pki/<node>/ and run ansible-playbook site.yml), or fix this machine's clock if it is wrong`,
			verification: true,
		},
		{
			name:         "certificate not yet valid",
			opts:         ConnOptions{NomadAddress: good, NomadCACert: clusterPEM, ConsulAddress: notYet, ConsulCACert: clusterPEM},
			want:         "consul at " + notYet + `: ask for its leader: its certificate for "server.dc1.consul" is valid only from 2099-01-01T00:00:00Z and this machine's clock says 2026-03-01T12:00:00Z; fix this machine's clock, or renew the agents' certificates (delete the inventory's secrets/pki/<node>/ and run ansible-playbook site.yml) if the machine that issued it had a wrong one`,
			verification: true,
		},
		{
			name:         "expired CA",
			opts:         ConnOptions{NomadAddress: byLapsed, NomadCACert: lapsedPEM, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + byLapsed + `: ask for its leader: the CA "lapsed cluster CA" that signed its certificate (in ` + lapsedPEM + `) expired at 2021-01-01T00:00:00Z and this machine's clock says 2026-03-01T12:00:00Z; renew the cluster's CA (delete the inventory's secrets/pki/ca.pem and run ansible-playbook site.yml), or fix this machine's clock if it is wrong`,
			verification: true,
		},
		{
			name:         "expired intermediate CA",
			opts:         ConnOptions{NomadAddress: byLapsedMiddle, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + byLapsedMiddle + `: ask for its leader: the intermediate CA "lapsed intermediate CA" that it sent expired at 2021-01-01T00:00:00Z and this machine's clock says 2026-03-01T12:00:00Z; renew the agents' certificates (delete the inventory's secrets/pki/<node>/ and run ansible-playbook site.yml), or fix this machine's clock if it is wrong`,
			verification: true,
		},
		{
			name:         "certificate for clients only",
			opts:         ConnOptions{NomadAddress: clientOnly, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + clientOnly + ": ask for its leader: its certificate is refused: x509: certificate specifies an incompatible key usage",
			verification: true,
		},
		{
			name:         "nomad certificate for another host",
			opts:         ConnOptions{NomadAddress: elsewhere, NomadCACert: clusterPEM, ConsulAddress: good, ConsulCACert: clusterPEM},
			want:         "nomad at " + elsewhere + ": ask for its leader: its certificate is not valid for 127.0.0.1, the name this command checks, only for server.global.nomad, node-02, 10.0.0.2; use one of those in NOMAD_ADDR or --address, or set NOMAD_TLS_SERVER_NAME or --tls-server-name to one",
			verification: true,
		},
		{
			name:         "consul server name not in the certificate",
			opts:         ConnOptions{NomadAddress: good, NomadCACert: clusterPEM, ConsulAddress: elsewhere, ConsulCACert: clusterPEM, ConsulTLSServerName: "node-01"},
			want:         "consul at " + elsewhere + ": ask for its leader: its certificate is not valid for node-01, the name this command checks, only for server.global.nomad, node-02, 10.0.0.2; use one of those in CONSUL_HTTP_ADDR or --consul-address, or set CONSUL_TLS_SERVER_NAME or --consul-tls-server-name to one",
			verification: true,
		},
		{
			name: "https to a plain HTTP server",
			opts: ConnOptions{NomadAddress: strings.Replace(plain.URL, "http://", "https://", 1), ConsulAddress: good, ConsulCACert: clusterPEM},
			want: "nomad at " + strings.Replace(plain.URL, "http://", "https://", 1) + ": ask for its leader: it answers plain HTTP, not HTTPS; use http:// in NOMAD_ADDR or --address (or the address of its HTTPS port)",
		},
		{
			name: "consul without a scheme to a Go HTTPS server",
			opts: ConnOptions{NomadAddress: good, NomadCACert: clusterPEM, ConsulAddress: goodHostPort, ConsulCACert: clusterPEM},
			want: "consul at http://" + goodHostPort + ": ask for its leader: it answers HTTPS only; use https:// in CONSUL_HTTP_ADDR or --consul-address",
		},
		{
			name: "http to a server that answers with a TLS alert",
			opts: ConnOptions{NomadAddress: tlsAlert, ConsulAddress: good, ConsulCACert: clusterPEM},
			want: "nomad at " + tlsAlert + ": ask for its leader: it answers HTTPS only; use https:// in NOMAD_ADDR or --address",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Connect(ctx, tc.opts)
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, clusterPEM, c.NomadAt.CAFile)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.NotContains(t, err.Error(), "\n")
			require.NotNil(t, errors.Unwrap(err), "the cause stays wrapped")
			var verr *tls.CertificateVerificationError
			assert.Equal(t, tc.verification, errors.As(err, &verr))
		})
	}
}

// clearConnEnv keeps the tester's NOMAD_* and CONSUL_* out of Connect.
func clearConnEnv(t *testing.T) {
	for _, v := range []string{
		"NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_REGION", "NOMAD_NAMESPACE", "NOMAD_CACERT", "NOMAD_CAPATH",
		"NOMAD_CLIENT_CERT", "NOMAD_CLIENT_KEY", "NOMAD_TLS_SERVER_NAME", "NOMAD_SKIP_VERIFY",
		"CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_HTTP_AUTH", "CONSUL_HTTP_SSL",
		"CONSUL_HTTP_SSL_VERIFY", "CONSUL_CACERT", "CONSUL_CAPATH", "CONSUL_CLIENT_CERT", "CONSUL_CLIENT_KEY",
		"CONSUL_TLS_SERVER_NAME", "CONSUL_NAMESPACE", "CONSUL_PARTITION",
	} {
		t.Setenv(v, "")
	}
}

// leaderHandler answers like Nomad's and Consul's leader endpoints.
func leaderHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/status/leader", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`"127.0.0.1:4647"`))
	})
	return mux
}

// serveTLS serves the leader endpoint over HTTPS with cert and returns its
// address as https://127.0.0.1:port.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(leaderHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// serveTLSAlert answers every connection the way a TLS server that is no
// Go HTTP server answers a plain HTTP request: it reads what the client
// sent (it waits for a ClientHello) and answers with a TLS alert record.
// Answering before the request came raced with Go's HTTP client, which
// takes bytes arriving on a connection it has sent no request on yet for
// an unsolicited answer ("readLoopPeekFailLocked"; a cold run failed so
// once).
func serveTLSAlert(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = conn.Read(make([]byte, 4096))
			_, _ = conn.Write([]byte("\x15\x03\x01\x00\x02\x02\x46"))
			_ = conn.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newCA makes a self-signed CA.
func newCA(t *testing.T, name string, from, to time.Time) testCA {
	t.Helper()
	return makeCA(t, name, from, to, nil)
}

// intermediate makes a CA signed by ca.
func (ca testCA) intermediate(t *testing.T, name string, from, to time.Time) testCA {
	t.Helper()
	return makeCA(t, name, from, to, &ca)
}

func makeCA(t *testing.T, name string, from, to time.Time, parent *testCA) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: from, NotAfter: to,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{cert: cert, key: key}
}

// write puts the CA's certificate in dir/name and returns its path.
func (ca testCA) write(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o644))
	return path
}

// issue signs a server certificate, as the pki role does for the agents.
func (ca testCA) issue(t *testing.T, cn string, dns []string, ips []net.IP, from, to time.Time) tls.Certificate {
	t.Helper()
	return ca.issueFor(t, cn, dns, ips, from, to, x509.ExtKeyUsageServerAuth)
}

func (ca testCA) issueFor(t *testing.T, cn string, dns []string, ips []net.IP, from, to time.Time, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: from, NotAfter: to, DNSNames: dns, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

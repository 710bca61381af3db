package cli_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
)

// run runs poolctl in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(append([]string{"poolctl"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

const (
	prod = "../../../examples/home-12pi/pool.hcl"
	dev  = "../../../examples/dev/pool.hcl"
)

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"valid", []string{"validate", prod}, cli.ExitOK, "", "is valid: 10 jobs"},
		{"warnings only", []string{"validate", dev}, cli.ExitOK, "warning: Single stratum instance", "is valid"},
		{"invalid", []string{"validate", "../validate/testdata/invalid/bad-values.hcl"}, cli.ExitInvalid, "23 error(s)", ""},
		{"missing file", []string{"validate", "no/such/pool.hcl"}, cli.ExitInvalid, "no/such/pool.hcl:1:1: error: Cannot read pool definition", ""},
		{"garbage", []string{"validate", "../validate/testdata/invalid/binary-garbage.hcl"}, cli.ExitInvalid, "Not a text file", ""},
		{"render invalid", []string{"render", "../validate/testdata/invalid/node-loss.hcl"}, cli.ExitInvalid, "Jobs do not survive the node failures asked for", ""},
		{"unknown flag", []string{"validate", "--no-such-flag", prod}, cli.ExitInvalid, "flag provided but not defined", ""},
		{"stratum without workers", []string{"stratum", "--coin", "ltc", "--listen", "x", "--metrics-listen", "y", "--credentials", "none", "--max-workers-per-connection", "0"}, cli.ExitInvalid, "--max-workers-per-connection must be at least 1", ""},
		{"stratum memory limit not a number", []string{"stratum", "--coin", "ltc", "--listen", "x", "--metrics-listen", "y", "--credentials", "none", "--memory-limit", "lots"}, cli.ExitInvalid, "invalid value \"lots\" for flag -memory-limit", ""},
		{"deploy invalid sends nothing", []string{"deploy", "--address", "http://127.0.0.1:1", "../validate/testdata/invalid/empty-file.hcl"}, cli.ExitInvalid, "Missing pool block", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stderr, tc.stderr)
			assert.Contains(t, stdout, tc.stdout)
		})
	}
}

func TestRenderWritesJobFilesAndPackVars(t *testing.T) {
	dir := t.TempDir()
	vars := filepath.Join(dir, "vars.hcl")
	code, stdout, stderr := run(t, "render", "-o", filepath.Join(dir, "jobs"), "--pack-vars", vars, prod)
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Len(t, strings.Fields(stdout), 10)
	entries, err := os.ReadDir(filepath.Join(dir, "jobs"))
	require.NoError(t, err)
	assert.Len(t, entries, 10)
	data, err := os.ReadFile(vars)
	require.NoError(t, err)
	assert.Contains(t, string(data), `pool_name        = "scryptpool"`)
}

func TestRenderJSONToStdout(t *testing.T) {
	code, stdout, _ := run(t, "render", "--json", dev)
	require.Equal(t, cli.ExitOK, code)
	assert.Equal(t, 10, strings.Count(stdout, `"Job": {`))
}

// An API that is not there is one line naming it, its address and what
// failed, and exit 1.
func TestUnreachableAPIs(t *testing.T) {
	code, _, stderr := run(t, "plan", "--address", "http://127.0.0.1:1", dev)
	assert.Equal(t, cli.ExitRuntime, code)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	assert.Contains(t, last, "nomad at http://127.0.0.1:1: ask for its leader: unreachable")
	assert.Contains(t, last, "connection refused")
}

// A Nomad whose certificate the given CA did not sign is one line naming
// the CA file from --ca-cert and what to set, and exit 1.
func TestTLSCertificateFromAnotherCA(t *testing.T) {
	for _, v := range []string{"NOMAD_ADDR", "NOMAD_CACERT", "NOMAD_CAPATH", "NOMAD_TLS_SERVER_NAME", "NOMAD_SKIP_VERIFY", "CONSUL_HTTP_ADDR", "CONSUL_CACERT"} {
		t.Setenv(v, "")
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, selfSignedCA(t), 0o644))

	code, _, stderr := run(t, "status", "--address", srv.URL, "--ca-cert", ca, dev)
	assert.Equal(t, cli.ExitRuntime, code)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	assert.Equal(t, "poolctl: nomad at "+srv.URL+`: ask for its leader: its certificate is signed by "O=Acme Co", not by a CA this command trusts (`+ca+`); set NOMAD_CACERT or --ca-cert to the cluster's CA (the inventory's secrets/pki/ca.pem)`, lines[len(lines)-1])
}

// selfSignedCA is the PEM of a CA that signed nothing.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

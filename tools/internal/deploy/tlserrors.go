package deploy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// now is this machine's clock, which the certificates' validity is
// compared with; tests fix it.
var now = time.Now

// settings names what the operator sets for an API, as the nomad and consul
// CLIs (and poolctl's flags in cli/conn.go) name it.
type settings struct{ ca, addr, serverName string }

var apiSettings = map[string]settings{
	"nomad":  {ca: "NOMAD_CACERT or --ca-cert", addr: "NOMAD_ADDR or --address", serverName: "NOMAD_TLS_SERVER_NAME or --tls-server-name"},
	"consul": {ca: "CONSUL_CACERT or --consul-ca-cert", addr: "CONSUL_HTTP_ADDR or --consul-address", serverName: "CONSUL_TLS_SERVER_NAME or --consul-tls-server-name"},
}

// Where the provisioned cluster keeps its CA and certificates, as the README
// and the pki role name them.
const (
	clusterCA   = "the cluster's CA (the inventory's secrets/pki/ca.pem)"
	renewAgents = "renew the agents' certificates (delete the inventory's secrets/pki/<node>/ and run ansible-playbook site.yml)"
	renewCA     = "renew the cluster's CA (delete the inventory's secrets/pki/ca.pem and run ansible-playbook site.yml)"
)

// tlsProblem says why at's certificate was refused, or that HTTP and
// HTTPS were mixed up, and what to set; "" when err is about neither. Go's
// own words ("tls: failed to verify certificate: x509: ...") name neither
// the setting nor the fix.
func tlsProblem(at Endpoint, err error) string {
	set := apiSettings[at.API]
	msg := err.Error()
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		// Go names the certificate that is out of date: the server's own,
		// or the CA that signed it.
		c := invalid.Cert
		switch {
		case !c.IsCA:
			return outOfDate("its certificate for "+certName(c), c, renewAgents)
		case bytes.Equal(c.RawSubject, c.RawIssuer):
			return outOfDate(fmt.Sprintf("the CA %s that signed its certificate (in %s)", certName(c), trusted(at)), c, renewCA)
		}
		return outOfDate(fmt.Sprintf("the intermediate CA %s that it sent", certName(c)), c, renewAgents)
	case errors.As(err, &host) && host.Certificate != nil:
		names := validNames(host.Certificate)
		if len(names) == 0 {
			return fmt.Sprintf("its certificate is not valid for %s, the name this command checks, nor for any other: it has no subject alternative names; %s",
				host.Host, renewAgents)
		}
		return fmt.Sprintf("its certificate is not valid for %s, the name this command checks, only for %s; use one of those in %s, or set %s to one",
			host.Host, strings.Join(names, ", "), set.addr, set.serverName)
	case errors.As(err, &unknown):
		if unknown.Cert != nil {
			return fmt.Sprintf("its certificate is signed by %s, not by a CA this command trusts (%s); set %s to %s",
				issuerName(unknown.Cert), trusted(at), set.ca, clusterCA)
		}
		return fmt.Sprintf("its certificate is not signed by a CA this command trusts (%s); set %s to %s", trusted(at), set.ca, clusterCA)
	case errors.As(err, &verr):
		return "its certificate is refused: " + firstLine(verr.Err.Error())
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("it answers plain HTTP, not HTTPS; use http:// in %s (or the address of its HTTPS port)", set.addr)
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"), strings.Contains(msg, "malformed HTTP response"):
		return fmt.Sprintf("it answers HTTPS only; use https:// in %s", set.addr)
	}
	return ""
}

// outOfDate says that cert, named by what, is not valid at this machine's
// time, and what to do: renew by fix, or correct the clock.
func outOfDate(what string, cert *x509.Certificate, fix string) string {
	t := now()
	if t.Before(cert.NotBefore) {
		return fmt.Sprintf("%s is valid only from %s and this machine's clock says %s; fix this machine's clock, or %s if the machine that issued it had a wrong one",
			what, stamp(cert.NotBefore), stamp(t), fix)
	}
	return fmt.Sprintf("%s expired at %s and this machine's clock says %s; %s, or fix this machine's clock if it is wrong",
		what, stamp(cert.NotAfter), stamp(t), fix)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// trusted names the CAs this command checks at's certificate against.
func trusted(at Endpoint) string {
	switch {
	case at.CAFile != "":
		return at.CAFile
	case at.CAPath != "":
		return "the CAs in " + at.CAPath
	}
	return "the system's CAs, as no CA file is set"
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return fmt.Sprintf("%q", c.Subject.CommonName)
	}
	if names := validNames(c); len(names) > 0 {
		return fmt.Sprintf("%q", names[0])
	}
	return fmt.Sprintf("%q", c.Subject.String())
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return fmt.Sprintf("%q", c.Issuer.CommonName)
	}
	return fmt.Sprintf("%q", c.Issuer.String())
}

// validNames are the names a certificate is valid for: Go checks only its
// subject alternative names, not its common name.
func validNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

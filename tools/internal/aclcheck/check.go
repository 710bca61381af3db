package aclcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// NomadMissing returns the accesses the Nomad client's token lacks, and
// the names of the token's policies. With ACLs off nothing is missing.
func NomadMissing(ctx context.Context, nomad *nomadapi.Client, needs []contract.NomadAccess) ([]contract.NomadAccess, []string, error) {
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	token, _, err := nomad.ACLTokens().Self(q)
	switch {
	case err != nil && strings.Contains(err.Error(), "ACL support disabled"):
		return nil, nil, nil
	case Forbidden(err):
		return nil, nil, fmt.Errorf("the Nomad token (NOMAD_TOKEN) is not one Nomad knows: %s", firstLine(err.Error()))
	case err != nil:
		return nil, nil, fmt.Errorf("read the Nomad token: %w", err)
	case token.AccessorID == nomadACLsDisabled:
		return nil, nil, nil
	case token.AccessorID == nomadAnonymous:
		return nil, nil, ErrNoNomadToken
	case token.Type == "management":
		return nil, []string{"management"}, nil
	}
	names := append([]string(nil), token.Policies...)
	for _, link := range token.Roles {
		role, _, err := nomad.ACLRoles().Get(link.ID, q)
		if err != nil {
			return nil, nil, fmt.Errorf("read the Nomad token's role %s: %w", link.Name, err)
		}
		for _, p := range role.Policies {
			names = append(names, p.Name)
		}
	}
	var policies []*NomadPolicy
	for _, name := range names {
		p, _, err := nomad.ACLPolicies().Info(name, q)
		if err != nil && strings.Contains(err.Error(), "404") {
			// A policy deleted after the token was made grants nothing.
			continue
		}
		if err != nil {
			return nil, names, fmt.Errorf("read the Nomad token's policy %s: %w", name, err)
		}
		parsed, err := ParseNomadPolicy(name, p.Rules)
		if err != nil {
			return nil, names, err
		}
		policies = append(policies, parsed)
	}
	var missing []contract.NomadAccess
	for _, a := range needs {
		if !NomadAllows(policies, a) {
			missing = append(missing, a)
		}
	}
	return missing, names, nil
}

// nomadAnonymous is the accessor of the token Nomad reports for a request
// without one.
const nomadAnonymous = "anonymous"

// ErrNoNomadToken is a request without a Nomad token on a cluster with
// ACLs on.
var ErrNoNomadToken = errors.New("no Nomad token given")

// nomadACLsDisabled is the accessor of the token Nomad reports as the
// caller's when its ACLs are off (since 1.9; older versions answer "ACL
// support disabled").
const nomadACLsDisabled = "acls-disabled"

type authorizeRequest struct {
	Resource string
	Segment  string
	Access   string
	Allow    bool `json:",omitempty"`
}

// consulResource is the ACL resource a rule kind governs.
var consulResource = map[string]string{
	contract.RuleKey:           "key",
	contract.RuleKeyPrefix:     "key",
	contract.RuleService:       "service",
	contract.RuleNode:          "node",
	contract.RuleNodePrefix:    "node",
	contract.RuleSessionPrefix: "session",
}

// ConsulMissing returns the accesses the Consul token of cfg lacks, asked
// of Consul itself (the authorization check its UI uses), so that every
// rule form, role and identity counts as Consul counts it. With ACLs off
// nothing is missing.
func ConsulMissing(ctx context.Context, cfg *consulapi.Config, needs []contract.Access) ([]contract.Access, error) {
	if len(needs) == 0 {
		return nil, nil
	}
	reqs := make([]authorizeRequest, len(needs))
	for i, a := range needs {
		reqs[i] = authorizeRequest{Resource: consulResource[a.Rule], Segment: a.Name, Access: a.Level}
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := consulapi.SetupTLSConfig(&cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("consul TLS settings: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	addr := cfg.Address
	if !strings.Contains(addr, "://") {
		addr = cfg.Scheme + "://" + addr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+"/v1/internal/acl/authorize", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if cfg.Token != "" {
		req.Header.Set("X-Consul-Token", cfg.Token)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask Consul what the token may do: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(out), "ACL support disabled"):
		return nil, nil
	case resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("the Consul token (CONSUL_HTTP_TOKEN) is not one Consul knows: %s", firstLine(string(out)))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("ask Consul what the token may do: %s: %s", resp.Status, firstLine(string(out)))
	}
	var answers []authorizeRequest
	if err := json.Unmarshal(out, &answers); err != nil || len(answers) != len(needs) {
		return nil, fmt.Errorf("ask Consul what the token may do: unexpected answer %q", firstLine(string(out)))
	}
	var missing []contract.Access
	for i, a := range answers {
		if !a.Allow {
			missing = append(missing, needs[i])
		}
	}
	return missing, nil
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return first
}

// forbiddenText is how the API clients spell a 403 in an error whose type
// they do not export.
var forbiddenText = regexp.MustCompile(`(?i)response code: 403\b|\bpermission denied\b`)

// Forbidden says whether err is Nomad's or Consul's answer 403: the token
// lacks a permission. A 403 in a URL (a port, a path) is not one.
func Forbidden(err error) bool {
	var nomadErr nomadapi.UnexpectedResponseError
	if errors.As(err, &nomadErr) {
		return nomadErr.StatusCode() == 403
	}
	var consulErr consulapi.StatusError
	if errors.As(err, &consulErr) {
		return consulErr.Code == 403
	}
	return err != nil && forbiddenText.MatchString(err.Error())
}

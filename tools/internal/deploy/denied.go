package deploy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// deniedReporter passes requests to Consul through and, the first time
// Consul refuses one (403: the token lacks a permission, or Consul does
// not know the token), writes one line saying which request, where, and
// what to do. A task retries what failed; without this line the retries
// would hide the cause in a loop of generic errors.
type deniedReporter struct {
	next http.RoundTripper
	at   Endpoint
	out  io.Writer

	mu   sync.Mutex
	seen map[string]bool
}

func (d *deniedReporter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		return resp, err
	}
	what := req.Method + " " + req.URL.Path
	d.mu.Lock()
	first := !d.seen[what]
	d.seen[what] = true
	d.mu.Unlock()
	if !first {
		return resp, nil
	}
	// The body is read for the line and handed on unchanged.
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		body = []byte(rerr.Error())
	}
	fmt.Fprintln(d.out, deniedLine(d.at, what, string(body)))
	return resp, nil
}

// deniedLine is the one line for a refused request.
func deniedLine(at Endpoint, what, answer string) string {
	answer = firstLine(answer)
	if answer == "ACL not found" {
		return fmt.Sprintf("%s at %s: %s: refused, Consul does not know this token (%s): a task's token is made at its start from its job's workload identity; check the auth method nomad-workloads (ansible-playbook acl.yml) and the agents' clocks",
			at.API, at.Addr, what, answer)
	}
	return fmt.Sprintf("%s at %s: %s: permission denied (%s): the token's policy lacks it; a task's policy is named like its job and written by poolctl policies: if it was edited by hand or is older than this poolctl, write it again and run ansible-playbook acl.yml",
		at.API, at.Addr, what, answer)
}

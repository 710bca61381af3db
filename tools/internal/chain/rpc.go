// Package chain talks to Bitcoin-family coin daemons (litecoind) over their
// JSON-RPC interface, telling apart the ways a call can fail: a daemon that
// is gone, one that hangs, one that refuses the credentials, and one that
// answers garbage.
package chain

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Client calls one daemon's RPC interface.
type Client struct {
	// URL is the daemon's RPC endpoint, http://host:port.
	URL      string
	User     string
	Password string
	HTTP     *http.Client
}

// NewClient returns a client for the daemon at host:port.
func NewClient(hostport, user, password string) *Client {
	return &Client{
		URL:      "http://" + hostport,
		User:     user,
		Password: password,
		HTTP: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
}

// ReadCredentials reads "user:password" from the first line of path (the
// format of the daemon's .cookie file and of the secrets poolctl renders).
func ReadCredentials(path string) (user, password string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", "", err
	}
	user, password, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok || user == "" || password == "" {
		return "", "", fmt.Errorf("%s does not hold user:password", path)
	}
	return user, password, nil
}

// Kind is how a call failed.
type Kind string

// The ways a call fails, each needing a different answer: a daemon that is
// gone is restarted by Nomad, a hung one by check_restart, wrong
// credentials by the operator.
const (
	Unreachable Kind = "unreachable" // nothing listens: crashed, not started
	Timeout     Kind = "timeout"     // no answer in time: hung or overloaded
	Auth        Kind = "auth"        // credentials refused
	Garbage     Kind = "garbage"     // an answer that is not JSON-RPC
	RPC         Kind = "rpc"         // a JSON-RPC error from the daemon
	HTTPStatus  Kind = "http"        // an unexpected HTTP status
)

// Error is a failed call.
type Error struct {
	Kind    Kind
	Method  string
	Code    int // JSON-RPC error code or HTTP status
	Message string
}

func (e *Error) Error() string {
	switch e.Kind {
	case RPC:
		return fmt.Sprintf("%s: RPC error %d: %s", e.Method, e.Code, e.Message)
	case HTTPStatus, Auth:
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Method, e.Message, e.Code)
	}
	return fmt.Sprintf("%s: %s", e.Method, e.Message)
}

// KindOf returns how err failed, or "" when it is not a call's error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// CodeOf returns the JSON-RPC error code of err, or 0.
func CodeOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Kind == RPC {
		return e.Code
	}
	return 0
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int    `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	ID *int `json:"id"`
}

// maxAnswer bounds what a call reads: the answers used here are small, and
// a runaway or hostile answer must not eat the probe's memory. A block
// template is the exception: a full block is 4 MB, 8 MB as hex, with the
// template's fields for each transaction and the MWEB extension beside it.
const (
	maxAnswer         = 4 << 20
	maxTemplateAnswer = 32 << 20
)

func answerLimit(method string) int {
	if method == "getblocktemplate" {
		return maxTemplateAnswer
	}
	return maxAnswer
}

// Call invokes method with params and decodes the result into result
// (which may be nil). ctx bounds the whole call.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(request{JSONRPC: "1.0", ID: 1, Method: method, Params: params})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return &Error{Kind: Unreachable, Method: method, Message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.User, c.Password)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return classify(ctx, method, err)
	}
	defer resp.Body.Close()
	limit := answerLimit(method)
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return classify(ctx, method, err)
	}
	if len(data) > limit {
		return &Error{Kind: Garbage, Method: method, Message: fmt.Sprintf("answer larger than %d bytes", limit)}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return &Error{Kind: Auth, Method: method, Code: resp.StatusCode, Message: "credentials refused"}
	}
	if resp.StatusCode == http.StatusForbidden {
		// litecoind answers 403 to a login calling a method its
		// rpcwhitelist does not name.
		return &Error{Kind: Auth, Method: method, Code: resp.StatusCode, Message: "this login may not call " + method + " (the wallet's rpcwhitelist)"}
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil || (r.Error == nil && r.Result == nil && r.ID == nil) {
		if resp.StatusCode != http.StatusOK {
			return &Error{Kind: HTTPStatus, Method: method, Code: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		}
		return &Error{Kind: Garbage, Method: method, Message: "answer is not JSON-RPC: " + snippet(data)}
	}
	if r.Error != nil {
		return &Error{Kind: RPC, Method: method, Code: r.Error.Code, Message: r.Error.Message}
	}
	if result != nil {
		if err := json.Unmarshal(r.Result, result); err != nil {
			return &Error{Kind: Garbage, Method: method, Message: "unexpected result: " + snippet(r.Result)}
		}
	}
	return nil
}

func classify(ctx context.Context, method string, err error) error {
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &Error{Kind: Timeout, Method: method, Message: "no answer in time"}
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return &Error{Kind: Unreachable, Method: method, Message: opErr.Err.Error()}
	}
	// A connection closed before the answer: the daemon died mid-call.
	return &Error{Kind: Unreachable, Method: method, Message: err.Error()}
}

// snippet shows the start of an answer, printable, for a diagnosis.
func snippet(data []byte) string {
	const limit = 60
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, string(data))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}

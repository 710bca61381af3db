// Package stratum is the pool's stratum v1 server for scrypt coins: the
// protocol real miners (cpuminer, cgminer, bfgminer, scrypt ASIC firmware)
// speak, share validation with scrypt, vardiff, and block submission.
package stratum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// MaxLineBytes bounds one message. The longest a miner sends is
// mining.subscribe with a user agent or mining.authorize with a password;
// a few hundred bytes. Anything longer is not a miner.
const MaxLineBytes = 4096

// MaxWorkerNameBytes bounds a worker's name, what follows the payout
// address and its dot in mining.authorize. Names are kept per connection
// and written with every share.
const MaxWorkerNameBytes = 128

// Stratum error codes, as every pool and miner since slush's reference
// server uses them.
const (
	CodeOther         = 20
	CodeJobNotFound   = 21 // job not found, or stale
	CodeDuplicate     = 22
	CodeLowDifficulty = 23
	CodeUnauthorized  = 24
	CodeNotSubscribed = 25
)

// Request is one message from a miner: a call with an id, or (id null) a
// notification.
type Request struct {
	ID     json.RawMessage
	Method string
	Params []json.RawMessage
}

// ProtocolError is a message the server cannot act on. ID is the
// request's id when it could be read, so the answer reaches the right call.
type ProtocolError struct {
	ID     json.RawMessage
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string { return e.Reason }

// ParseRequest reads one line (without its newline). It accepts what
// miners send — ids that are numbers, strings or null, params as an array
// (or missing) — and nothing else.
func ParseRequest(line []byte) (*Request, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, &ProtocolError{Code: CodeOther, Reason: "empty message"}
	}
	if len(line) > MaxLineBytes {
		return nil, &ProtocolError{Code: CodeOther, Reason: fmt.Sprintf("message longer than %d bytes", MaxLineBytes)}
	}
	var raw struct {
		ID     json.RawMessage `json:"id"`
		Method *string         `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, &ProtocolError{Code: CodeOther, Reason: "malformed JSON: " + shortJSONError(err)}
	}
	id := canonicalID(raw.ID)
	if id == nil {
		return nil, &ProtocolError{Code: CodeOther, Reason: "id must be a number, a string or null"}
	}
	if raw.Method == nil {
		return nil, &ProtocolError{ID: id, Code: CodeOther, Reason: `no "method"`}
	}
	req := &Request{ID: id, Method: *raw.Method}
	if p := bytes.TrimSpace(raw.Params); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if p[0] != '[' {
			return nil, &ProtocolError{ID: id, Code: CodeOther, Reason: `"params" must be an array`}
		}
		if err := json.Unmarshal(p, &req.Params); err != nil {
			return nil, &ProtocolError{ID: id, Code: CodeOther, Reason: `"params" must be an array`}
		}
	}
	return req, nil
}

// canonicalID returns the id as it will be echoed, or nil when it is of a
// type no miner uses (objects, arrays, booleans).
func canonicalID(id json.RawMessage) json.RawMessage {
	id = bytes.TrimSpace(id)
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	switch id[0] {
	case 'n':
		return json.RawMessage("null")
	case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return id
	}
	return nil
}

func shortJSONError(err error) string {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("%s at byte %d", syntax.Error(), syntax.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("%q must not be a JSON %s", typ.Field, typ.Value)
	}
	return err.Error()
}

// StringParam is params[i] as a string.
func (r *Request) StringParam(i int, name string) (string, error) {
	if i >= len(r.Params) {
		return "", r.paramError("missing parameter %d (%s)", i+1, name)
	}
	raw := r.Params[i]
	// Fast path for what miners send: a plain string without escapes.
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw[1:n-1], '\\') < 0 && bytes.IndexByte(raw[1:n-1], '"') < 0 {
		return string(raw[1 : n-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", r.paramError("parameter %d (%s) must be a string", i+1, name)
	}
	return s, nil
}

// OptionalStringParam is params[i] as a string, "" when absent or null.
func (r *Request) OptionalStringParam(i int, name string) (string, error) {
	if i >= len(r.Params) || bytes.Equal(bytes.TrimSpace(r.Params[i]), []byte("null")) {
		return "", nil
	}
	return r.StringParam(i, name)
}

// NumberParam is params[i] as a finite number; miners send difficulties
// both as numbers and as strings, and a string may say "NaN" or "Inf".
func (r *Request) NumberParam(i int, name string) (float64, error) {
	if i >= len(r.Params) {
		return 0, r.paramError("missing parameter %d (%s)", i+1, name)
	}
	var f float64
	if err := json.Unmarshal(r.Params[i], &f); err == nil {
		return f, nil
	}
	var s string
	if err := json.Unmarshal(r.Params[i], &s); err == nil {
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return 0, r.paramError("parameter %d (%s) must be a finite number", i+1, name)
}

func (r *Request) paramError(format string, args ...any) error {
	return &ProtocolError{ID: r.ID, Code: CodeOther, Reason: fmt.Sprintf("%s: ", r.Method) + fmt.Sprintf(format, args...)}
}

// result encodes a successful answer.
func result(id json.RawMessage, v any) []byte {
	return encodeLine(struct {
		ID     json.RawMessage `json:"id"`
		Result any             `json:"result"`
		Error  any             `json:"error"`
	}{id, v, nil})
}

// failure encodes an error answer: [code, message, null] as miners parse it.
func failure(id json.RawMessage, code int, message string) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	return encodeLine(struct {
		ID     json.RawMessage `json:"id"`
		Result any             `json:"result"`
		Error  []any           `json:"error"`
	}{id, nil, []any{code, message, nil}})
}

// notification encodes a server-to-miner call.
func notification(method string, params ...any) []byte {
	if params == nil {
		params = []any{}
	}
	return encodeLine(struct {
		ID     any    `json:"id"`
		Method string `json:"method"`
		Params []any  `json:"params"`
	}{nil, method, params})
}

func encodeLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own values are encoded; one that fails is a bug.
		panic(fmt.Sprintf("encode stratum message: %v", err))
	}
	return append(b, '\n')
}

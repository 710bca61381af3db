package poolapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ParamError is a request MiningCore's model binding would refuse: 400,
// as application/problem+json naming the parameter.
type ParamError struct {
	Name, Reason string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %s: %s", e.Name, e.Reason) }

// query holds a request's query parameters under lower-case keys:
// MiningCore binds them case-insensitively (front-ends send "pagesize").
type query map[string][]string

func parseQuery(raw string) (query, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &ParamError{"query", "not a valid query string: " + err.Error()}
	}
	q := query{}
	for k, vs := range values {
		lk := strings.ToLower(k)
		q[lk] = append(q[lk], vs...)
	}
	return q, nil
}

// single is a parameter that may be given once; name is its spelling in
// MiningCore's documentation, matched case-insensitively.
func (q query) single(name string) (string, bool, error) {
	vs := q[strings.ToLower(name)]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return vs[0], true, nil
	}
	return "", false, &ParamError{name, fmt.Sprintf("given %d times, once at most", len(vs))}
}

// maxParamLength bounds what a message quotes back.
const maxParamLength = 40

func quoted(v string) string {
	if len(v) > maxParamLength {
		v = v[:maxParamLength] + "..."
	}
	return strconv.Quote(v)
}

// intParam reads a whole number in [lo, hi], def when absent.
func (q query) intParam(name string, def, lo, hi int64) (int64, error) {
	v, ok, err := q.single(name)
	if err != nil || !ok {
		return def, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, &ParamError{name, fmt.Sprintf("the value %s is not a whole number", quoted(v))}
	}
	if n < lo || n > hi {
		return 0, &ParamError{name, fmt.Sprintf("%d is out of range: from %d to %d", n, lo, hi)}
	}
	return n, nil
}

// enum is one of MiningCore's enums as a query accepts it: its name in
// any case, or its number.
type enum struct {
	names []string // in number order, from 1
}

func (e enum) parse(name, v string) (string, error) {
	t := strings.TrimSpace(v)
	for i, n := range e.names {
		if strings.EqualFold(t, n) || t == strconv.Itoa(i+1) {
			return strings.ToLower(n), nil
		}
	}
	return "", &ParamError{name, fmt.Sprintf("the value %s is not one of %s", quoted(v), strings.Join(e.names, ", "))}
}

func (q query) enumParam(name string, e enum, def string) (string, error) {
	v, ok, err := q.single(name)
	if err != nil || !ok {
		return def, err
	}
	return e.parse(name, v)
}

type sampleRange string

const (
	rangeDay   sampleRange = "day"
	rangeMonth sampleRange = "month"
	rangeHour  sampleRange = "hour"
)

var (
	sampleRanges    = enum{[]string{"Day", "Month", "Hour"}}
	sampleIntervals = enum{[]string{"Hour", "Day"}}
	blockStatuses   = enum{[]string{"Pending", "Orphaned", "Confirmed"}}
)

func (q query) sampleRange(name string) (sampleRange, error) {
	v, err := q.enumParam(name, sampleRanges, string(rangeDay))
	return sampleRange(v), err
}

// states reads the repeatable state parameter: every status when absent,
// each status once, in MiningCore's order.
func (q query) states() ([]string, error) {
	vs := q["state"]
	if len(vs) == 0 {
		return []string{"pending", "orphaned", "confirmed"}, nil
	}
	if len(vs) > len(blockStatuses.names) {
		return nil, &ParamError{"state", fmt.Sprintf("given %d times, at most once per status", len(vs))}
	}
	seen := map[string]bool{}
	for _, v := range vs {
		s, err := blockStatuses.parse("state", v)
		if err != nil {
			return nil, err
		}
		seen[s] = true
	}
	var out []string
	for _, n := range blockStatuses.names {
		if s := strings.ToLower(n); seen[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// maxPage keeps page x pageSize far from overflowing and OFFSET cheap
// enough: no pool lists a million pages.
const maxPage = 1_000_000

// defaultPageSize is MiningCore's.
const defaultPageSize = 15

type paging struct {
	page, size int64
}

func (p paging) offset() int64 { return p.page * p.size }

// pageCount rounds up; MiningCore floors count/pageSize, which says 0
// pages for 14 rows at 15 a page.
func (p paging) pageCount(rows int64) int64 { return (rows + p.size - 1) / p.size }

func (q query) paging(maxSize int) (paging, error) {
	page, err := q.intParam("page", 0, 0, maxPage)
	if err != nil {
		return paging{}, err
	}
	size, err := q.intParam("pageSize", defaultPageSize, 1, int64(maxSize))
	if err != nil {
		return paging{}, err
	}
	return paging{page, size}, nil
}

// maxTopMinersRange is a week: shares, which the ranking reads, are kept
// at least a day, older ones only while a payout may need them.
const maxTopMinersRange = 7 * 24

func (q query) topMinersRange() (int64, error) {
	return q.intParam("topMinersRange", 24, 1, maxTopMinersRange)
}

// maxAddressLength is longer than any Litecoin address (bech32 segwit
// v0 P2WSH is 63 characters).
const maxAddressLength = 90

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// result is one target's load: what the clients saw in the measured
// window, and the CPU each side spent in it.
type result struct {
	Requests int64
	Errors   int64 // transport errors and answers other than 200
	Bytes    int64 // of the answers' bodies
	// Waiting is the longest any request still unanswered when the
	// window closed had waited (those are not counted above): with
	// every client busy one is always in flight, but not for long.
	Waiting   time.Duration
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
	First     time.Duration   // the first request's, alone, before the load (a cold cache)
	ServerCPU float64         // cores the server used (1 = its whole core)
	ClientCPU float64         // cores the load generator used
}

func (r result) rate() float64 {
	if r.Elapsed <= 0 {
		return -1
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// percentile is the latency below which p of the requests finished
// (nearest rank); -1 without requests.
func (r result) percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return -1
	}
	i := int(p*float64(len(r.Latencies))+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// load runs clients concurrent clients, each on its own keep-alive
// connection, for warmup unmeasured and then for duration measured.
// With rate 0 each asks for url again as soon as it has the whole
// answer: the most the server can answer. With a rate, the clients
// between them ask rate times a second, each on a fixed schedule, and a
// request's latency counts from when it was due, so that a server
// falling behind is not excused by the clients waiting for it. A request
// counts when its answer ends inside the measured window; those
// unanswered when it closes are cancelled, and the longest wait among
// them kept.
func load(ctx context.Context, url string, clients int, rate float64, warmup, duration time.Duration, serverPID int) (result, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	began := time.Now()
	first := time.Duration(-1)
	if ok, _ := get(ctx, client, url); ok {
		first = time.Since(began)
	} else {
		fmt.Fprintf(os.Stderr, "  GET %s alone failed after %s (a 5xx is the database's answer over the 10 s query timeout)\n", url, time.Since(began).Round(time.Millisecond))
	}

	var stop sync.WaitGroup
	start := time.Now()
	measureFrom, measureTo := start.Add(warmup), start.Add(warmup+duration)
	window, cancel := context.WithDeadline(ctx, measureTo)
	defer cancel()
	type tally struct {
		n, errs, bytes int64
		waiting        time.Duration
		lat            []time.Duration
	}
	tallies := make([]tally, clients)
	var every time.Duration // each client's interval when paced
	if rate > 0 {
		every = time.Duration(float64(clients) / rate * float64(time.Second))
	}
	for c := range clients {
		stop.Add(1)
		go func(t *tally) {
			defer stop.Done()
			due := start
			if every > 0 {
				due = start.Add(every * time.Duration(c) / time.Duration(clients)) // spread over one interval
			}
			for window.Err() == nil {
				began := time.Now()
				if every > 0 {
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-window.Done():
							return
						}
					}
					began, due = due, due.Add(every)
				}
				ok, n := get(window, client, url)
				ended := time.Now()
				if !ended.Before(measureTo) {
					t.waiting = measureTo.Sub(began)
					return
				}
				if ended.Before(measureFrom) {
					continue
				}
				t.n++
				t.bytes += n
				t.lat = append(t.lat, ended.Sub(began))
				if !ok {
					t.errs++
				}
			}
		}(&tallies[c])
	}
	// The CPU both sides spend in the measured window.
	time.Sleep(time.Until(measureFrom))
	serverBefore, err := cpuTicks(serverPID)
	if err != nil {
		return result{}, err
	}
	var ruBefore, ruAfter syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ruBefore)
	time.Sleep(time.Until(measureTo))
	serverAfter, err := cpuTicks(serverPID)
	if err != nil {
		return result{}, err
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ruAfter)
	stop.Wait()

	r := result{Elapsed: duration, First: first}
	for _, t := range tallies {
		r.Requests += t.n
		r.Errors += t.errs
		r.Bytes += t.bytes
		r.Waiting = max(r.Waiting, t.waiting)
		r.Latencies = append(r.Latencies, t.lat...)
	}
	slices.Sort(r.Latencies)
	r.ServerCPU = float64(serverAfter-serverBefore) / ticksPerSecond / duration.Seconds()
	r.ClientCPU = (tvSeconds(ruAfter.Utime) + tvSeconds(ruAfter.Stime) - tvSeconds(ruBefore.Utime) - tvSeconds(ruBefore.Stime)) / duration.Seconds()
	return r, ctx.Err()
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// get asks for url and reads the whole answer; ok is a 200.
func get(ctx context.Context, client *http.Client, url string) (ok bool, bytes int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, 0
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, 0
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK, n
}

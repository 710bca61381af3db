package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// dbMemory is what the PostgreSQL processes serving one connection hold:
// its backend and the parallel workers the backend started.
type dbMemory struct {
	// Private is their anonymous resident memory (RssAnon): sort and hash
	// memory, caches, everything the work itself allocates.
	Private uint64
	// Shared is the backend's resident shared memory (RssShmem): the pages
	// of shared_buffers it touched, a cache of fixed size set at start.
	Shared uint64
}

// dbSampler reads dbMemory from /proc. The parallel workers are the
// postmaster's children whose process title names the backend; the
// children that existed before the work began are the server's own
// processes and are not looked at again.
type dbSampler struct {
	postmaster, backend int
	title               string
	others              map[int]bool
	// workers are the parallel workers seen.
	workers map[int]bool
}

func newDBSampler(postmaster, backend int) (*dbSampler, error) {
	s := &dbSampler{postmaster: postmaster, backend: backend,
		title: fmt.Sprintf("parallel worker for PID %d", backend), others: map[int]bool{}, workers: map[int]bool{}}
	children, err := s.children()
	if err != nil {
		return nil, err
	}
	for _, pid := range children {
		if !s.isWorker(pid) {
			s.others[pid] = true
		}
	}
	return s, nil
}

func (s *dbSampler) sample() (dbMemory, error) {
	st, err := procStatus(s.backend)
	if err != nil {
		return dbMemory{}, fmt.Errorf("backend %d: %w", s.backend, err)
	}
	m := dbMemory{Private: st["RssAnon"], Shared: st["RssShmem"]}
	children, err := s.children()
	if err != nil {
		return dbMemory{}, err
	}
	for _, pid := range children {
		// A worker just forked may not carry its title yet: a new child
		// is looked at again at every sample.
		if s.others[pid] || !s.isWorker(pid) {
			continue
		}
		s.workers[pid] = true
		if st, err := procStatus(pid); err == nil { // a worker may have ended meanwhile
			m.Private += st["RssAnon"]
		}
	}
	return m, nil
}

func (s *dbSampler) children() ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.postmaster, s.postmaster))
	if err != nil {
		return nil, fmt.Errorf("postmaster's children: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func (s *dbSampler) isWorker(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte(s.title))
}

// procStatus is /proc/PID/status's memory fields, in bytes.
func procStatus(pid int) (map[string]uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		kb, unit, _ := strings.Cut(strings.TrimSpace(value), " ")
		if !ok || unit != "kB" {
			continue
		}
		if n, err := strconv.ParseUint(kb, 10, 64); err == nil {
			fields[name] = n * 1024
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, ok := fields["RssAnon"]; !ok {
		return nil, fmt.Errorf("no RssAnon in /proc/%d/status", pid)
	}
	return fields, nil
}

package dbmember

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Secrets is the file the database job's template renders from its Nomad
// variable (JSON with these fields).
type Secrets struct {
	SuperuserPassword   string `json:"superuser_password"`
	ReplicationPassword string `json:"replication_password"`
	RewindPassword      string `json:"rewind_password"`
	PoolUser            string `json:"pool_user"`
	PoolVerifier        string `json:"pool_verifier"`
	// WebUser and WebVerifier are the web job's read-only login; absent
	// from a variable made before it (deploy adds them).
	WebUser     string `json:"web_user,omitempty"`
	WebVerifier string `json:"web_verifier,omitempty"`
}

// ReadSecrets reads and checks the secrets file.
func ReadSecrets(path string) (Secrets, error) {
	var s Secrets
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read the database's secrets: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: not the database's secrets (%v); is the Nomad variable complete? poolctl deploy adds what is missing", path, err)
	}
	return s, nil
}

// Files are where Prepare writes the member's configuration.
type Files struct {
	Config string
}

// Prepare writes Patroni's configuration into dir (the task's secrets
// directory: it holds passwords), readable by this process's user only,
// and returns its path.
func Prepare(m Member, dir string) (Files, error) {
	f := Files{Config: filepath.Join(dir, "patroni.yml")}
	cfg, err := m.Config()
	if err != nil {
		return f, err
	}
	return f, writePrivate(f.Config, cfg)
}

func writePrivate(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// PatroniEnv is the environment Patroni runs with: the task's, without
// Consul's client variables. Patroni's Consul client would take
// CONSUL_HTTP_ADDR over its configuration and refuses the URL form Nomad's
// nodes give it, and its token and CA are in the configuration.
func PatroniEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CONSUL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Exec replaces this process with Patroni (python -m patroni config), so
// that Nomad's signals reach Patroni itself: on SIGTERM or SIGINT it stops
// PostgreSQL and hands the leader lock over at once.
func Exec(python string, f Files) error {
	argv := []string{python, "-m", "patroni", f.Config}
	if err := syscall.Exec(python, argv, PatroniEnv(os.Environ())); err != nil {
		return fmt.Errorf("start Patroni (%s): %w", strings.Join(argv, " "), err)
	}
	return nil
}

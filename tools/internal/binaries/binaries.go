// Package binaries finds the pinned Nomad, Consul and nomad-pack builds, or
// builds them from the Go module proxy into a cache directory, once.
//
// HashiCorp's release downloads are not reachable from the project's
// machines; their Go modules are, at explicit versions. The main modules
// carry replace directives pointing at nested modules (./api and others), so
// `go install module@version` fails; instead the module is copied out of the
// module cache with the nested modules at the versions the release used,
// and built there (RECIPES.md).
package binaries

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Tool is a pinned program and how to build it.
type Tool struct {
	Name    string
	Version string
	// VersionLine is what `<name> version` prints first for this build.
	VersionLine string
	Module      string
	// Nested lists modules copied into the source tree (path in tree ->
	// module@version). Empty versions are read from the main module's go.mod.
	Nested map[string]string
	// NoSumDB lists modules the checksum database does not know.
	NoSumDB []string
	// Replace adds go.mod replace directives before building (-mod=mod).
	Replace map[string]string
}

// The pinned versions. Nomad's api module is untagged: its version is the
// pseudo-version of the v1.11.1 tag's commit, the same the poolctl module
// builds against.
var (
	Nomad = Tool{
		Name: "nomad", Version: "1.11.1", VersionLine: "Nomad v1.11.1",
		Module:  "github.com/hashicorp/nomad@v1.11.1",
		Nested:  map[string]string{"api": "github.com/hashicorp/nomad/api@v0.0.0-20251209201056-5b76eb053561"},
		NoSumDB: []string{"github.com/hashicorp/nomad/api"},
	}
	Consul = Tool{
		Name: "consul", Version: "1.22.3", VersionLine: "Consul v1.22.3",
		Module: "github.com/hashicorp/consul@v1.22.3",
		Nested: map[string]string{
			"api": "", "envoyextensions": "", "proto-public": "", "sdk": "", "troubleshoot": "",
		},
		NoSumDB: []string{"github.com/hashicorp/consul/envoyextensions", "github.com/hashicorp/consul/troubleshoot"},
	}
	// NomadPack's own pinned Nomad api version is refused by the proxy; it
	// builds against a later one.
	NomadPack = Tool{
		Name: "nomad-pack", Version: "0.4.2", VersionLine: "Nomad Pack v0.4.2",
		Module:  "github.com/hashicorp/nomad-pack@v0.4.2",
		NoSumDB: []string{"github.com/hashicorp/nomad/api"},
		Replace: map[string]string{"github.com/hashicorp/nomad/api": "github.com/hashicorp/nomad/api@v0.0.0-20261016150620-df630b26e78a"},
	}
)

// CacheDir is where built binaries are kept: $POOLCTL_CACHE_DIR, or
// poolctl/ in the user's cache directory.
func CacheDir() (string, error) {
	if d := os.Getenv("POOLCTL_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory (set POOLCTL_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "poolctl"), nil
}

// Path is where the cache keeps t.
func (t Tool) Path(cache string) string {
	return filepath.Join(cache, t.Name, "v"+t.Version, t.Name)
}

// Ensure returns the path of t: a program of that name and version on PATH,
// or the cached build, building it first if there is none. Progress of a
// build goes to log. Concurrent callers (parallel test packages) build once.
func Ensure(ctx context.Context, t Tool, log io.Writer) (string, error) {
	if p, err := exec.LookPath(t.Name); err == nil && t.matches(ctx, p) {
		return p, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	target := t.Path(cache)
	if t.matches(ctx, target) {
		return target, nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("create cache directory: %w", err)
	}
	unlock, err := lockFile(target + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if t.matches(ctx, target) { // built by another process while we waited
		return target, nil
	}
	fmt.Fprintf(log, "building %s v%s from the Go module proxy into %s (a few minutes, once)\n", t.Name, t.Version, target)
	if err := t.build(ctx, target, log); err != nil {
		return "", fmt.Errorf("build %s v%s: %w", t.Name, t.Version, err)
	}
	if !t.matches(ctx, target) {
		return "", fmt.Errorf("build %s v%s: the built binary does not report %q", t.Name, t.Version, t.VersionLine)
	}
	return target, nil
}

func (t Tool) matches(ctx context.Context, path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	out, err := exec.CommandContext(ctx, path, "version").Output()
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(out), "\n")
	first = strings.TrimSpace(first)
	return first == t.VersionLine || strings.HasPrefix(first, t.VersionLine+"-") || strings.HasPrefix(first, t.VersionLine+" ")
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

type moduleInfo struct {
	Dir     string
	Version string
	Error   string
}

func (t Tool) goEnv() []string {
	env := os.Environ()
	if len(t.NoSumDB) > 0 {
		env = append(env, "GONOSUMDB="+strings.Join(t.NoSumDB, ","))
	}
	return append(env, "GOFLAGS=-buildvcs=false")
}

func (t Tool) download(ctx context.Context, module string, log io.Writer) (moduleInfo, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	cmd.Env = t.goEnv()
	cmd.Stderr = log
	out, err := cmd.Output()
	var info moduleInfo
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return info, fmt.Errorf("download %s: %s", module, info.Error)
	}
	if err != nil {
		return info, fmt.Errorf("download %s: %w", module, err)
	}
	if info.Dir == "" {
		return info, fmt.Errorf("download %s: no directory in go's answer", module)
	}
	return info, nil
}

var requireLine = regexp.MustCompile(`^\s*(?:require\s+)?(\S+)\s+(v\S+)`)

// requiredVersion reads the version of module required by goMod.
func requiredVersion(goMod []byte, module string) string {
	sc := bufio.NewScanner(bytes.NewReader(goMod))
	for sc.Scan() {
		m := requireLine.FindStringSubmatch(sc.Text())
		if m != nil && m[1] == module {
			return m[2]
		}
	}
	return ""
}

func (t Tool) build(ctx context.Context, target string, log io.Writer) error {
	main, err := t.download(ctx, t.Module, log)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(filepath.Dir(target), "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := copyTree(main.Dir, src); err != nil {
		return err
	}
	goMod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return err
	}
	base, _, _ := strings.Cut(t.Module, "@")
	for dir, module := range t.Nested {
		if module == "" {
			path := base + "/" + dir
			version := requiredVersion(goMod, path)
			if version == "" {
				return fmt.Errorf("%s's go.mod does not require %s", t.Module, path)
			}
			module = path + "@" + version
		}
		info, err := t.download(ctx, module, log)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(src, dir)); err != nil {
			return err
		}
		if err := copyTree(info.Dir, filepath.Join(src, dir)); err != nil {
			return err
		}
	}
	args := []string{"build", "-o", target + ".new", "."}
	for from, to := range t.Replace {
		edit := exec.CommandContext(ctx, "go", "mod", "edit", "-replace", from+"="+to)
		edit.Dir, edit.Env, edit.Stdout, edit.Stderr = src, t.goEnv(), log, log
		if err := edit.Run(); err != nil {
			return fmt.Errorf("go mod edit: %w", err)
		}
		args = []string{"build", "-mod=mod", "-o", target + ".new", "."}
	}
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir, build.Env, build.Stdout, build.Stderr = src, t.goEnv(), log, log
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return os.Rename(target+".new", target)
}

// copyTree copies a module directory (read-only in the module cache) into
// a writable tree.
func copyTree(from, to string) error {
	return filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(dst, 0o755)
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, dst)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, data, info.Mode().Perm()|0o200)
		}
	})
}

// EnsureAgents finds or builds the pinned nomad and consul.
func EnsureAgents(ctx context.Context, log io.Writer) (nomad, consul string, err error) {
	if nomad, err = Ensure(ctx, Nomad, log); err != nil {
		return "", "", err
	}
	if consul, err = Ensure(ctx, Consul, log); err != nil {
		return "", "", err
	}
	return nomad, consul, nil
}

// BuildPoolctl builds this checkout's poolctl into dir, for programs that
// run it the way an operator does (a separate process, its own exit code).
// It must run from the module's root.
func BuildPoolctl(dir string) (string, error) {
	poolctl := filepath.Join(dir, "poolctl")
	if out, err := exec.Command("go", "build", "-o", poolctl, "./tools/cmd/poolctl").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build poolctl: %v\n%s", err, out)
	}
	return poolctl, nil
}

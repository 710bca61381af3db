package nomadhcl_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/binaries"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
	"github.com/scryptpool/poolmicrocloud/tools/internal/nomadhcl"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{30 * time.Second, "30s"},
		{5 * time.Minute, "5m"},
		{90 * time.Minute, "1h30m"},
		{25*time.Hour + 2*time.Second, "25h2s"},
		{1500 * time.Millisecond, "1s500ms"},
	} {
		assert.Equal(t, tc.want, nomadhcl.FormatDuration(tc.in), tc.in.String())
	}
}

func ptr[T any](v T) *T { return &v }

// Nomad's own runtime variables stay as people write them; anything else
// that HCL would read as a template is escaped so it stays literal.
func TestInterpolationAndEscapes(t *testing.T) {
	job := &api.Job{ID: ptr("x"), TaskGroups: []*api.TaskGroup{{Name: ptr("g"), Tasks: []*api.Task{{
		Name: "t", Driver: "exec",
		Config:    map[string]any{"command": "/bin/echo", "args": []string{"${NOMAD_PORT_rpc}", "${node.unique.id}", "${HOME}", "100%{x}", `say "hi"\n`}},
		Templates: []*api.Template{{EmbeddedTmpl: ptr("line ${X}\n{{ env \"A\" }}\n")}},
	}}}}}
	out := string(nomadhcl.Encode(job, "", nil))
	assert.Contains(t, out, `"${NOMAD_PORT_rpc}"`)
	assert.Contains(t, out, `"${node.unique.id}"`)
	assert.Contains(t, out, `"$${HOME}"`)
	assert.Contains(t, out, `"100%%{x}"`)
	assert.Contains(t, out, `"say \"hi\"\\n"`)
	assert.Contains(t, out, "<<EOT\nline $${X}\n{{ env \"A\" }}\nEOT")
}

func TestNotesBecomeComments(t *testing.T) {
	job := &api.Job{ID: ptr("x"), Priority: ptr(50), TaskGroups: []*api.TaskGroup{{
		Name: ptr("g"), RestartPolicy: &api.RestartPolicy{Attempts: ptr(0)},
	}}}
	out := string(nomadhcl.Encode(job, "header line", nomadhcl.Notes{
		"priority":        "why the priority",
		"group.g/restart": "why no retries\nsecond line",
	}))
	assert.Contains(t, out, "# header line\njob \"x\" {")
	assert.Contains(t, out, "# why the priority\n  priority = 50")
	assert.Contains(t, out, "    # why no retries\n    # second line\n    restart {\n      attempts = 0")
}

// Every job poolctl renders parses back, with Nomad's own parser, into the
// job it was written from.
func TestRoundTripThroughNomad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the nomad binary")
	}
	nomad := testenv.Tool(t, binaries.Nomad)
	for _, example := range []string{"home-12pi", "dev"} {
		pool, _, diags := config.Load(testenv.Example(t, example))
		require.False(t, diags.HasErrors())
		for _, j := range jobspec.Render(pool) {
			t.Run(example+"/"+j.ID(), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), j.FileName())
				require.NoError(t, os.WriteFile(path, j.HCL(pool.Name), 0o644))
				var stdout, stderr bytes.Buffer
				cmd := exec.Command(nomad, "job", "run", "-output", path)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				require.NoError(t, cmd.Run(), stderr.String())
				var parsed api.JobRegisterRequest
				require.NoError(t, json.Unmarshal(stdout.Bytes(), &parsed))
				want, err := json.Marshal(canonical(j.Job))
				require.NoError(t, err)
				got, err := json.Marshal(canonical(parsed.Job))
				require.NoError(t, err)
				assert.JSONEq(t, string(want), string(got))
			})
		}
	}
}

// canonical fills in defaults the same way for both sides, so that "not
// written" and "written as the default" compare equal.
func canonical(j *api.Job) *api.Job {
	data, _ := json.Marshal(j)
	var c api.Job
	_ = json.Unmarshal(data, &c)
	c.Canonicalize()
	for _, g := range c.TaskGroups {
		for _, t := range g.Tasks {
			// Nomad's parser moves an unnamed identity block to Identity
			// and leaves an empty Identities, which means the same as none.
			if len(t.Identities) == 0 {
				t.Identities = nil
			}
		}
	}
	return &c
}

// What the encoder writes, Nomad reads back unchanged: meta keys that are
// not identifiers, multi-line strings with and without a final newline.
func TestAwkwardValuesRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the nomad binary")
	}
	nomad := testenv.Tool(t, binaries.Nomad)
	job := &api.Job{
		ID: ptr("awkward"), Datacenters: []string{"dc1"},
		Meta: map[string]string{"a.b": "dotted", "plain": "x"},
		TaskGroups: []*api.TaskGroup{{Name: ptr("g"), Tasks: []*api.Task{{
			Name: "t", Driver: "exec",
			Config: map[string]any{"command": "/bin/true"},
			Templates: []*api.Template{
				{DestPath: ptr("local/a"), EmbeddedTmpl: ptr("two\nlines")},
				{DestPath: ptr("local/b"), EmbeddedTmpl: ptr("two\nlines\n")},
			},
		}}}},
	}
	path := filepath.Join(t.TempDir(), "awkward.nomad.hcl")
	require.NoError(t, os.WriteFile(path, nomadhcl.Encode(job, "", nil), 0o644))
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(nomad, "job", "run", "-output", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var parsed api.JobRegisterRequest
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &parsed))
	assert.Equal(t, job.Meta, parsed.Job.Meta)
	tpl := parsed.Job.TaskGroups[0].Tasks[0].Templates
	assert.Equal(t, "two\nlines", *tpl[0].EmbeddedTmpl)
	assert.Equal(t, "two\nlines\n", *tpl[1].EmbeddedTmpl)
}

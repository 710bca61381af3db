package poolweb

import (
	"encoding/xml"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code produces now")

// golden compares got with testdata/name, rewritten under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to write %s", path)
	assert.Equal(t, string(want), got)
}

func TestChartSVG(t *testing.T) {
	end := time.Date(2026, 11, 26, 0, 30, 0, 0, time.UTC)
	day := end.Add(-24 * time.Hour)
	hourly := func(values ...float64) []point {
		var out []point
		for i, v := range values {
			out = append(out, point{At: end.Add(-time.Duration(len(values)-i) * time.Hour).Truncate(time.Hour), Value: v})
		}
		return out
	}
	cases := []struct {
		name   string
		c      chart
		shape  string // the element drawing the samples: polyline, circle or "empty"
		labels []string
	}{
		{"day", chart{Title: "Pool hashrate, 24 hours", From: day, To: end, Points: hourly(30000, 41943, 38000, 12000)},
			"polyline", []string{"0", "20 kH/s", "40 kH/s", "06:00", "12:00", "18:00", "00:00"}},
		{"month", chart{Title: "30 days", From: end.Add(-30 * 24 * time.Hour), To: end, Points: []point{
			{end.Add(-6 * 24 * time.Hour), 2.5e6}, {end.Add(-5 * 24 * time.Hour), 3e6}, {end.Add(-24 * time.Hour), 1.1e9}}},
			"polyline", []string{"0", "0.5 GH/s", "1.5 GH/s", "Nov 2", "Nov 23"}},
		{"empty", chart{Title: "nothing", From: day, To: end}, "empty", []string{"0", "1 H/s"}},
		{"single", chart{Title: "one", From: day, To: end, Points: hourly(5)}, "circle", []string{"0", "6 H/s"}},
		{"all-zero", chart{Title: "zeros", From: day, To: end, Points: hourly(0, 0, 0)}, "polyline", []string{"0", "1 H/s"}},
		{"not-finite", chart{Title: "dropped <values> & \"quotes\"", From: day, To: end, Points: hourly(math.NaN(), 1500, math.Inf(1), -3, 2000, math.Inf(-1))},
			"polyline", []string{"0", "2 kH/s"}},
		{"only-not-finite", chart{Title: "bad", From: day, To: end, Points: hourly(math.NaN(), math.Inf(1))}, "empty", []string{"1 H/s"}},
		{"outside-and-unsorted", chart{Title: "order", From: day, To: end, Points: []point{
			{end.Add(-time.Hour), 2}, {end.Add(-48 * time.Hour), 100}, {end.Add(-2 * time.Hour), 1}, {end.Add(time.Hour), 100}}},
			"polyline", []string{"0", "2 H/s"}},
		{"inverted-period", chart{Title: "inverted", From: end, To: day, Points: hourly(1)}, "empty", []string{"0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svg := string(c.c.svg())
			golden(t, "chart-"+c.name+".svg", svg+"\n")

			// Well-formed XML, no number that is not one, the title escaped.
			var doc struct {
				XMLName xml.Name
				Title   string `xml:"title"`
				Texts   []struct {
					Class string `xml:"class,attr"`
					Body  string `xml:",chardata"`
				} `xml:"text"`
				Polylines []struct{} `xml:"polyline"`
				Circles   []struct{} `xml:"circle"`
			}
			require.NoError(t, xml.Unmarshal([]byte(svg), &doc), svg)
			assert.Equal(t, "svg", doc.XMLName.Local)
			assert.Equal(t, c.c.Title, doc.Title)
			for _, bad := range []string{"NaN", "Inf", "<script", "style="} {
				assert.NotContains(t, svg, bad)
			}
			var labels []string
			empty := false
			for _, tx := range doc.Texts {
				labels = append(labels, tx.Body)
				empty = empty || tx.Class == "empty"
			}
			for _, l := range c.labels {
				assert.Contains(t, labels, l)
			}
			switch c.shape {
			case "polyline":
				assert.Len(t, doc.Polylines, 1)
				assert.Empty(t, doc.Circles)
			case "circle":
				assert.Len(t, doc.Circles, 1)
				assert.Empty(t, doc.Polylines)
			case "empty":
				assert.True(t, empty, "says there is no data")
				assert.Empty(t, doc.Polylines)
				assert.Empty(t, doc.Circles)
			}
			// Every coordinate inside the drawing.
			for _, f := range strings.FieldsFunc(svg, func(r rune) bool { return r == '"' || r == ' ' || r == ',' }) {
				if strings.HasPrefix(f, "-") && len(f) > 1 && f[1] >= '0' && f[1] <= '9' {
					t.Errorf("negative coordinate %s", f)
				}
			}
		})
	}
}

func TestYScale(t *testing.T) {
	cases := []struct{ peak, step, top float64 }{
		{0, 0.25, 1},
		{math.NaN(), 0.25, 1},
		{math.Inf(1), 0.25, 1},
		{1, 0.5, 1},
		{4, 1, 4},
		{41943, 20000, 60000},
		{100, 50, 100},
		{1.1e9, 5e8, 1.5e9},
	}
	for _, c := range cases {
		step, top := yScale(c.peak)
		assert.InDelta(t, c.step, step, c.step*1e-9, "step for %v", c.peak)
		assert.InDelta(t, c.top, top, c.top*1e-9, "top for %v", c.peak)
	}
}

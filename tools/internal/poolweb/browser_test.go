package poolweb

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// chromiumPath is where Debian's chromium package puts its launcher.
const chromiumPath = "/usr/bin/chromium"

// The widths the pages are looked at: a laptop's window, and a phone's
// (an iPhone 12/13/14's CSS pixels) with mobile emulation, so that the
// page's viewport meta tag and touch are what a phone makes of them.
// Both at a device scale of 1, to keep the committed screenshots small.
var browserWidths = []struct {
	name          string
	width, height int64
	mobile        bool
}{
	{"desktop", 1280, 900, false},
	{"phone", 390, 844, true},
}

// Every page in a real headless Chromium, at a desktop's and a phone's
// width: it loads with the status it should, with no console error, no
// script exception and no failed request, asks nothing of any host but
// the pool's own, draws its charts, fits the phone's width, and the
// miner's page lists the miner's workers. A screenshot of each is kept
// (see screenshotDirs).
func TestPagesInChromium(t *testing.T) {
	testenv.Integration(t)
	_, err := os.Stat(chromiumPath)
	require.NoError(t, err, "%s is missing: the browser test drives Debian's chromium; run the setup task "+
		"(go run github.com/go-task/task/v3/cmd/task@v3.45.4 setup), which installs it", chromiumPath)

	db := startLedger(t)
	fill(t, db)
	srv := httptest.NewServer(New(testConfig(), db))
	t.Cleanup(srv.Close)
	origin, err := url.Parse(srv.URL)
	require.NoError(t, err)

	browser := startChromium(t)
	dirs := screenshotDirs(t)
	workersA := workersOf(t, db, minerA)

	pages := []struct {
		name   string
		path   string
		status int
		charts int // SVG charts the page draws
	}{
		{"front", "/", http.StatusOK, 2},
		{"miner", "/miners/" + minerA, http.StatusOK, 1},
		{"blocks", "/blocks", http.StatusOK, 0},
		{"payments", "/payments", http.StatusOK, 0},
		{"start", "/start", http.StatusOK, 0},
		{"not-found", "/miners/" + stranger, http.StatusNotFound, 0},
	}
	for _, pg := range pages {
		for _, wd := range browserWidths {
			t.Run(pg.name+"/"+wd.name, func(t *testing.T) {
				pageURL := srv.URL + pg.path
				v := visit(t, browser, pageURL, wd.width, wd.height, wd.mobile)

				t.Logf("%s at %dx%d: HTTP %d, %d requests, %d charts, scroll width %g of %g, console %q",
					pg.path, wd.width, wd.height, v.status, len(v.requests), len(v.charts), v.scrollWidth, v.innerWidth, v.console)
				assert.Equal(t, pg.status, v.status, "the page's HTTP status")
				for _, u := range v.requests {
					assert.Equal(t, origin.Host, u.Host, "request to %s: nothing may be asked of another host than the pool's", u)
					assert.Equal(t, "http", u.Scheme, "request to %s", u)
				}
				assert.GreaterOrEqual(t, len(v.requests), 2, "the page and its style sheet: %v", v.requests)
				var expected []string
				if pg.status != http.StatusOK {
					// Chromium reports a page's own error status on the
					// console as a failed resource; that is the page
					// doing its job, nothing else may be there.
					expected = append(expected, "Failed to load resource: the server responded with a status of 404 (Not Found) ["+pageURL+"]")
				}
				assert.Equal(t, expected, v.console, "console errors and warnings")
				assert.Empty(t, v.exceptions, "script exceptions")
				assert.Empty(t, v.failed, "failed requests")
				assert.True(t, v.styled, "the style sheet applied")

				require.Len(t, v.charts, pg.charts, "the page's SVG charts")
				for i, c := range v.charts {
					assert.Greater(t, c[0], 0.0, "chart %d's width", i)
					assert.Greater(t, c[1], 0.0, "chart %d's height", i)
				}
				if pg.name == "miner" {
					assert.ElementsMatch(t, workersA, v.workers, "the miner's workers, as the shares name them")
				}
				// On a phone a page wider than the screen makes the
				// browser zoom out, widening the window to the page: so
				// the window must keep the device's width too.
				assert.Equal(t, float64(wd.width), v.innerWidth, "the window's width: the page is zoomed out to fit something too wide")
				assert.LessOrEqual(t, v.scrollWidth, v.innerWidth, "the page overflows the window's width")

				for _, dir := range dirs {
					require.NoError(t, os.WriteFile(filepath.Join(dir, pg.name+"-"+wd.name+".png"), v.screenshot, 0o644))
				}
			})
		}
	}
}

// workersOf are the worker names of address's shares, as the miner's
// page shows them.
func workersOf(t *testing.T, db *pgxpool.Pool, address string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT DISTINCT worker FROM shares WHERE address = $1`, address)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var w string
		require.NoError(t, rows.Scan(&w))
		if w == "" {
			w = "(no name)"
		}
		out = append(out, w)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, out)
	return out
}

// startChromium starts Debian's chromium headless, as root can run it,
// with a fresh profile and every background service that would reach
// Google turned off; it and its profile are gone when the test ends.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	var output bytes.Buffer
	var mu sync.Mutex
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // root has no user namespace sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.CombinedOutput(lockedWriter{&mu, &output}),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // kills chromium and waits for it
		if t.Failed() {
			mu.Lock()
			t.Logf("chromium's output:\n%s", output.String())
			mu.Unlock()
		}
	})
	// The first action starts the browser, which lives as long as the
	// context of that call: no timeout on it.
	require.NoError(t, chromedp.Do(ctx), "start %s", chromiumPath)
	return ctx
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// visited is what a page did in the browser.
type visited struct {
	status                  int        // the document's HTTP status
	requests                []*url.URL // every request the page made
	console                 []string   // console messages and browser log entries at warning or error
	exceptions              []string
	failed                  []string // requests that failed or were answered with an error, the document's own status aside
	styled                  bool
	charts                  [][2]float64 // each chart's rendered width and height
	workers                 []string     // the first column of the miner page's worker table
	scrollWidth, innerWidth float64
	screenshot              []byte
}

// visit opens pageURL in a new tab of browser at the given viewport and
// records what happened.
func visit(t *testing.T, browser context.Context, pageURL string, width, height int64, mobile bool) visited {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser)
	defer closeTab()
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()

	var mu sync.Mutex
	var v visited
	documents := map[network.RequestID]bool{}
	// Listen's fn sees each event before the reply to any command
	// sent after it: once the last command below returns, everything
	// the page did while loading is recorded.
	require.NoError(t, chromedp.Listen(tab, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			u, err := url.Parse(e.Request.URL)
			if err != nil {
				v.failed = append(v.failed, "unparsable URL "+e.Request.URL)
				return
			}
			v.requests = append(v.requests, u)
			if e.Type == network.ResourceTypeDocument {
				documents[e.RequestID] = true
			}
		case *network.EventResponseReceived:
			if documents[e.RequestID] && e.Response.URL == pageURL {
				v.status = int(e.Response.Status)
			} else if e.Response.Status >= 400 {
				v.failed = append(v.failed, fmt.Sprintf("%s: HTTP %d", e.Response.URL, e.Response.Status))
			}
		case *network.EventLoadingFailed:
			v.failed = append(v.failed, fmt.Sprintf("%s (%s): %s %s", e.RequestID, e.Type, e.ErrorText, e.BlockedReason))
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			v.exceptions = append(v.exceptions, fmt.Sprintf("%s at %s:%d:%d", d.Text, d.URL, d.LineNumber, d.ColumnNumber))
		case *runtime.EventConsoleAPICalled:
			switch e.Type {
			case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				v.console = append(v.console, "console."+string(e.Type)+": "+strings.Join(args, " "))
			}
		case *log.EventEntryAdded:
			// CSP violations, failed loads, deprecations: the
			// browser's own messages on the console.
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				v.console = append(v.console, e.Entry.Text+" ["+e.Entry.URL+"]")
			}
		}
	}))

	viewport := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		viewport = append(viewport, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, height, viewport...), chromedp.Navigate(pageURL)), "open %s", pageURL)
	for _, c := range evalJS[[]struct{ W, H float64 }](t, ctx,
		`Array.from(document.querySelectorAll("svg.chart")).map(e => { const r = e.getBoundingClientRect(); return {W: r.width, H: r.height}; })`) {
		v.charts = append(v.charts, [2]float64{c.W, c.H})
	}
	v.workers = evalJS[[]string](t, ctx, `(() => { const h = Array.from(document.querySelectorAll("h2")).find(e => e.textContent === "Workers");
		return h ? Array.from(h.nextElementSibling.querySelectorAll("tbody tr td:first-child")).map(td => td.firstChild.textContent.trim()) : []; })()`)
	v.scrollWidth = evalJS[float64](t, ctx, `document.documentElement.scrollWidth`)
	v.innerWidth = evalJS[float64](t, ctx, `window.innerWidth`)
	// The sheet sets the box-sizing of everything: a sign that it
	// loaded and the CSP let it apply.
	v.styled = evalJS[string](t, ctx, `getComputedStyle(document.body).boxSizing`) == "border-box"
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot of %s", pageURL)
	v.screenshot = shot

	mu.Lock()
	defer mu.Unlock()
	return v
}

// evalJS is what js evaluates to in ctx's tab (through the DevTools
// protocol: the pages' own policy allows no script).
func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// screenshotDirs are where the screenshots go: always the artefacts
// directory ($POOLCTL_ARTEFACTS/screenshots, else test-artefacts/screenshots
// in the repository, which git ignores), and with -update docs/screenshots,
// which the README shows.
func screenshotDirs(t *testing.T) []string {
	t.Helper()
	root := testenv.RepoRoot(t)
	artefacts := filepath.Join(root, "test-artefacts")
	if dir := os.Getenv("POOLCTL_ARTEFACTS"); dir != "" {
		artefacts = dir
	}
	dirs := []string{filepath.Join(artefacts, "screenshots")}
	if *update {
		dirs = append(dirs, filepath.Join(root, "docs", "screenshots"))
	}
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	t.Logf("screenshots in %s", strings.Join(dirs, ", "))
	return dirs
}

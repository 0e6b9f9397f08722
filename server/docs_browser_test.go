package server_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/latchkey/latchkey/openapi"
	"github.com/latchkey/latchkey/server/servertest"
)

// TestDocsInBrowser opens /docs of a live server in headless Chromium: Swagger UI must render
// with no console error and no request to anything but the server under test, list each
// operation of the contract once under each of its tags, and "Try it out" on GET /healthz must
// show the 200 answer. When it fails it keeps a screenshot of the page (the path is in the
// log): in $LATCHKEY_TEST_ARTIFACTS when set, else in the system's temporary directory.
func TestDocsInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	h := servertest.Start(t)
	origin, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		// This machine's network is closed: without these Chromium keeps dialling out.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
	)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	// The first action starts the browser; its life is bound to tab, not to a step's deadline,
	// so a browser that never comes up is waited for here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(tab) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v", chrome, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start within a minute", chrome)
	}

	var (
		mu       sync.Mutex
		problems []string                         // console errors, exceptions, failed loads
		requests []string                         // every URL the page asked for
		urls     = map[network.RequestID]string{} // the same, by request
	)
	if err := chromedp.Listen(tab, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, firstNonEmpty(a.Description, string(a.Value)))
				}
				problems = append(problems, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				problems = append(problems, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
			urls[ev.RequestID] = ev.Request.URL
		case *network.EventLoadingFailed:
			problems = append(problems, fmt.Sprintf("loading %s failed: %s%s", urls[ev.RequestID], ev.ErrorText, ev.BlockedReason))
		}
	}); err != nil {
		t.Fatal(err)
	}

	// What the page reported and asked for is checked at the end, or on the way out of a step
	// that failed, so a timeout says why.
	checked := false
	checkPage := func() {
		mu.Lock()
		defer mu.Unlock()
		checked = true
		for _, p := range problems {
			t.Errorf("the page reported: %s", p)
		}
		if len(requests) == 0 {
			t.Error("saw no request at all: the network events did not arrive")
		}
		for _, r := range requests {
			u, err := url.Parse(r)
			if err != nil || (u.Scheme != "data" && u.Host != origin.Host) {
				t.Errorf("the page asked for %s, outside the server under test (%s)", r, origin.Host)
			}
		}
	}
	defer func() {
		if !checked {
			checkPage()
		}
		if t.Failed() {
			keepScreenshot(t, tab)
		}
	}()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Swagger UI renders the operations once it has fetched and resolved /openapi.json.
	step("open /docs", chromedp.Navigate(h.URL+"/docs"), chromedp.WaitVisible(chromedp.CSS(".opblock-tag-section .opblock")))

	// One entry per operation under each of its tags: the ids Swagger UI gives its blocks are
	// operations-<tag>-<operationId>, inside the section of that tag.
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[map[string][]string](`(() => {
		const tags = {};
		for (const section of document.querySelectorAll('.opblock-tag-section')) {
			const tag = section.querySelector('.opblock-tag').dataset.tag;
			tags[tag] = [...section.querySelectorAll('.opblock')].map(op => op.id);
		}
		return tags;
	})()`))
	cancel()
	if err != nil {
		t.Fatalf("read the operations: %v", err)
	}
	want := contractOperationsByTag(t)
	for tag, ids := range want {
		got := slices.Sorted(slices.Values(shown[tag]))
		if !slices.Equal(got, ids) {
			t.Errorf("tag %s lists %d entries, want %d:\n got %v\nwant %v", tag, len(got), len(ids), got, ids)
		}
	}
	for tag := range shown {
		if _, ok := want[tag]; !ok {
			t.Errorf("Swagger UI shows a tag %q that no operation of the contract has: %v", tag, shown[tag])
		}
	}

	// Try it out on GET /healthz: the page calls the server and shows its answer.
	healthz := "#operations-ops-opsHealthz"
	if !slices.Contains(shown["ops"], healthz[1:]) {
		t.Fatalf("no entry %s for GET /healthz under ops: %v", healthz, shown["ops"])
	}
	step("try GET /healthz",
		chromedp.Click(chromedp.CSS(healthz+" .opblock-summary-control")),
		chromedp.Click(chromedp.CSS(healthz+" .try-out__btn")),
		chromedp.Click(chromedp.CSS(healthz+" .execute")),
		chromedp.WaitVisible(chromedp.CSS(healthz+" .live-responses-table tr.response .response-col_status")),
	)
	ctx, cancel = context.WithTimeout(tab, 20*time.Second)
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(healthz+" .live-responses-table tr.response .response-col_status")))
	if err == nil && strings.TrimSpace(status) == "200" {
		var body string
		body, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(healthz+" .live-responses-table tr.response .response-col_description")))
		if err == nil && !strings.Contains(body, `"ok"`) {
			t.Errorf("Try it out on GET /healthz shows 200 with %q, want the body {\"status\": \"ok\"}", body)
		}
	} else if err == nil {
		t.Errorf("Try it out on GET /healthz shows %q, want 200", status)
	}
	cancel()
	if err != nil {
		t.Fatalf("read the answer of Try it out: %v", err)
	}

	mu.Lock()
	called := slices.Contains(requests, h.URL+"/healthz")
	mu.Unlock()
	if !called {
		t.Errorf("Try it out did not call %s/healthz", h.URL)
	}
	checkPage()
}

// firstNonEmpty returns the first of its arguments that is not empty.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// chromiumPath finds Chromium. Without it the test skips, unless LATCHKEY_TEST_REQUIRE_CHROMIUM=1
// (.ci/run sets it after installing the Debian package chromium), when it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LATCHKEY_TEST_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("Chromium required (LATCHKEY_TEST_REQUIRE_CHROMIUM=1) but not installed (apt-get install chromium)")
	}
	t.Skip("SKIPPED: Chromium not installed (apt-get install chromium)")
	return ""
}

// contractOperationsByTag lists, per tag, the Swagger UI ids of the contract's operations
// (operations-<tag>-<operationId>), sorted.
func contractOperationsByTag(t *testing.T) map[string][]string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string][]string{}
	n := 0
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if len(op.Tags) == 0 {
				t.Fatalf("operation %s has no tag", op.OperationID)
			}
			for _, tag := range op.Tags {
				byTag[tag] = append(byTag[tag], "operations-"+tag+"-"+op.OperationID)
			}
			n++
		}
	}
	if n < 50 {
		t.Fatalf("read only %d operations from the contract", n)
	}
	for _, ids := range byTag {
		slices.Sort(ids)
	}
	return byTag
}

// keepScreenshot saves what the page shows, for a failed test.
func keepScreenshot(t *testing.T, tab context.Context) {
	ctx, cancel := context.WithTimeout(tab, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	dir := os.Getenv("LATCHKEY_TEST_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, fmt.Sprintf("latchkey-docs-%s.png", time.Now().Format("20060102-150405.000")))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the page: %s", path)
}

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log the test reads while the server writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// backend answers with its name and what it received, as the tests check it.
func backend(t *testing.T, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s host=%s path=%s xff=%s xfh=%s xfp=%s",
			name, r.Host, r.URL.Path, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// standIn serves the routes in file (re-read on every request) and returns
// its URL and its log.
func standIn(t *testing.T, file string) (string, *syncBuffer) {
	logs := &syncBuffer{}
	lg := &logger{w: logs}
	srv := httptest.NewServer(newIngress(&routesFile{path: file, log: lg}, lg))
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

func writeRoutes(t *testing.T, lines ...string) string {
	file := filepath.Join(t.TempDir(), "routes")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// request asks the stand-in at url for path, with the Host header host.
func request(t *testing.T, url, host, path string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return req
}

func do(t *testing.T, req *http.Request) (int, string) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func expect(t *testing.T, url, host, path string, wantCode int, wantPrefix string) {
	t.Helper()
	code, body := do(t, request(t, url, host, path))
	if code != wantCode || !strings.HasPrefix(body, wantPrefix) {
		t.Errorf("%s%s: got %d %q, want %d %q...", host, path, code, body, wantCode, wantPrefix)
	}
}

func TestHostRouteBeatsAnyHost(t *testing.T) {
	url, _ := standIn(t, writeRoutes(t,
		"* / "+backend(t, "any"),
		"app.example / "+backend(t, "app"),
	))
	expect(t, url, "app.example", "/x", 200, "app ")
	expect(t, url, "APP.example:80", "/x", 200, "app ")
	expect(t, url, "other.example", "/x", 200, "any ")
}

func TestLongestPrefixWins(t *testing.T) {
	url, _ := standIn(t, writeRoutes(t,
		"* / "+backend(t, "root"),
		"* /api/v1/ "+backend(t, "v1"),
		"* /api "+backend(t, "api"),
	))
	expect(t, url, "h", "/api/v1/things", 200, "v1 ")
	expect(t, url, "h", "/api/v1", 200, "v1 ")
	expect(t, url, "h", "/api/v2", 200, "api ")
	expect(t, url, "h", "/", 200, "root ")
}

func TestPrefixMatchesWholeElements(t *testing.T) {
	url, _ := standIn(t, writeRoutes(t, "* /foo "+backend(t, "foo")))
	expect(t, url, "h", "/foo", 200, "foo ")
	expect(t, url, "h", "/foo/bar", 200, "foo ")
	expect(t, url, "h", "/foobar", 404, "404 page not found")
}

func TestNoRouteIs404(t *testing.T) {
	url, _ := standIn(t, writeRoutes(t, "app.example / "+backend(t, "app")))
	expect(t, url, "other.example", "/", 404, "404 page not found")
}

func TestMissingFileIs503(t *testing.T) {
	url, logs := standIn(t, filepath.Join(t.TempDir(), "absent"))
	expect(t, url, "h", "/", 503, "k3s-ingress stand-in")
	if !strings.Contains(logs.String(), "no routes") {
		t.Errorf("the missing file was not logged:\n%s", logs)
	}
}

func TestMalformedLineSkippedOthersKept(t *testing.T) {
	url, logs := standIn(t, writeRoutes(t,
		"# a comment, then a blank line",
		"",
		"* /bad http://not-an-ip:80",
		"* /good "+backend(t, "good"),
	))
	expect(t, url, "h", "/good", 200, "good ")
	expect(t, url, "h", "/bad", 404, "404")
	if !strings.Contains(logs.String(), "line 3 skipped") {
		t.Errorf("the skipped line 3 was not logged:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "loaded 1 routes") {
		t.Errorf("the reload's route count was not logged:\n%s", logs)
	}
}

func TestReloadAfterAtomicRename(t *testing.T) {
	file := writeRoutes(t, "* / "+backend(t, "old"))
	url, _ := standIn(t, file)
	expect(t, url, "h", "/", 200, "old ")
	// Written beside it and renamed over it, as the cluster's script does.
	next := []byte("* / " + backend(t, "new") + "\n")
	if err := os.WriteFile(file+".tmp", next, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	expect(t, url, "h", "/", 200, "new ")
}

func TestLargeBodyPassesByteForByte(t *testing.T) {
	body := make([]byte, 10<<20)
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	}))
	t.Cleanup(big.Close)
	url, _ := standIn(t, writeRoutes(t, "* / "+big.URL))
	resp, err := http.Get(url + "/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(body); n != int64(len(body)) || !bytes.Equal(got, want[:]) {
		t.Errorf("got %d bytes sha256 %x, want %d bytes sha256 %x", n, got, len(body), want)
	}
}

func TestBackendDownIs502(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	url, logs := standIn(t, writeRoutes(t, "* / "+down.URL))
	expect(t, url, "h", "/", 502, "k3s-ingress stand-in")
	if !strings.Contains(logs.String(), "level=error") || !strings.Contains(logs.String(), down.URL) {
		t.Errorf("the backend error was not logged:\n%s", logs)
	}
}

func TestHostKeptAndForwardedHeadersSet(t *testing.T) {
	url, _ := standIn(t, writeRoutes(t, "app.example / "+backend(t, "app")))
	req := request(t, url, "app.example", "/a/b")
	// A client's own X-Forwarded-For is not to be trusted, so not passed on.
	req.Header.Set("X-Forwarded-For", "192.0.2.66")
	_, body := do(t, req)
	if want := "app host=app.example path=/a/b xff=127.0.0.1 xfh=app.example xfp=http"; body != want {
		t.Errorf("the backend saw %q, want %q", body, want)
	}
}

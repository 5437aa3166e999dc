package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	helloText  = "hello from static\n"
	secretText = "SECRET outside the static dir\n"
	streamHead = "first\n"
	streamTail = "second\n"
)

// seenRequest is what the fake API server received.
type seenRequest struct {
	path   string
	header http.Header
	peer   string // CN of the client certificate it saw, "" for none
}

// fixture is a supervisor in front of a fake API server, with the CAs and
// files a test cluster would have.
type fixture struct {
	t                  *testing.T
	serverCA, clientCA *testCA
	cfg                config
	backend, sup       *httptest.Server
	seen               chan seenRequest
	release            chan struct{} // lets /stream finish
	logs               *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		t:        t,
		serverCA: newTestCA(t, "server-ca"),
		clientCA: newTestCA(t, "client-ca"),
		seen:     make(chan seenRequest, 16),
		release:  make(chan struct{}),
		logs:     &syncBuffer{},
	}
	requestHeaderCA := newTestCA(t, "request-header-ca")
	proxy := requestHeaderCA.issueClient(t, dir, "system:auth-proxy")
	apiserverCert := f.serverCA.issueServer(t, dir, "apiserver")
	supCert := f.serverCA.issueServer(t, dir, "supervisor")
	writeFile(t, filepath.Join(dir, "server-ca.crt"), f.serverCA.pem)
	writeFile(t, filepath.Join(dir, "client-ca.crt"), f.clientCA.pem)
	staticDir := makeStaticDir(t, dir)

	f.backend = httptest.NewUnstartedServer(http.HandlerFunc(f.fakeAPIServer))
	f.backend.TLS = &tls.Config{
		Certificates: []tls.Certificate{apiserverCert.tls},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    requestHeaderCA.pool(),
	}
	f.backend.StartTLS()
	t.Cleanup(f.backend.Close)

	f.cfg = config{
		listen:          "127.0.0.1:0",
		tlsCert:         supCert.certFile,
		tlsKey:          supCert.keyFile,
		clientCA:        filepath.Join(dir, "client-ca.crt"),
		serverCA:        filepath.Join(dir, "server-ca.crt"),
		staticDir:       staticDir,
		apiserver:       f.backend.URL,
		apiserverCA:     filepath.Join(dir, "server-ca.crt"),
		proxyClientCert: proxy.certFile,
		proxyClientKey:  proxy.keyFile,
	}
	srv, err := newServer(f.cfg, newLogger(f.logs))
	if err != nil {
		t.Fatal(err)
	}
	f.sup = httptest.NewUnstartedServer(srv.Handler)
	f.sup.TLS = srv.TLSConfig
	f.sup.Config.ErrorLog = srv.ErrorLog
	f.sup.StartTLS()
	t.Cleanup(f.sup.Close)
	return f
}

// makeStaticDir makes DIR/static with a file, a directory, a symlink inside
// and symlinks to a file and a directory outside it.
func makeStaticDir(t *testing.T, dir string) string {
	t.Helper()
	static := filepath.Join(dir, "static")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(static, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(static, "hello.txt"), []byte(helloText))
	writeFile(t, filepath.Join(static, "sub", "nested.txt"), []byte(helloText))
	writeFile(t, filepath.Join(dir, "secret.txt"), []byte(secretText))
	writeFile(t, filepath.Join(outside, "secret.txt"), []byte(secretText))
	for link, target := range map[string]string{
		"alias.txt": "hello.txt",
		"leak.txt":  "../secret.txt",
		"out":       "../outside",
		"abs.txt":   filepath.Join(dir, "secret.txt"),
	} {
		if err := os.Symlink(target, filepath.Join(static, link)); err != nil {
			t.Fatal(err)
		}
	}
	return static
}

func (f *fixture) fakeAPIServer(w http.ResponseWriter, r *http.Request) {
	peer := ""
	if len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	f.seen <- seenRequest{path: r.URL.Path, header: r.Header.Clone(), peer: peer}
	switch r.URL.Path {
	case "/stream":
		// A known length, so that only the proxy's own flushing can bring
		// the head to the client before the tail is written.
		w.Header().Set("Content-Length", fmt.Sprint(len(streamHead+streamTail)))
		io.WriteString(w, streamHead)
		http.NewResponseController(w).Flush()
		select {
		case <-f.release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, streamTail)
	case "/upgrade":
		echoUpgrade(w, r)
	default:
		io.WriteString(w, "apiserver")
	}
}

// echoUpgrade switches to a protocol that sends back one line.
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "echo-test" {
		http.Error(w, "no upgrade", http.StatusBadRequest)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo-test\r\n\r\n")
	rw.Flush()
	line, err := rw.ReadString('\n')
	if err != nil {
		return
	}
	rw.WriteString(line)
	rw.Flush()
}

// client trusts the server CA and presents CERT, if any.
func (f *fixture) client(cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: f.serverCA.pool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func (f *fixture) get(c *http.Client, path string, header map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, f.sup.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (f *fixture) mustGet(c *http.Client, path string, header map[string]string) (int, string) {
	f.t.Helper()
	status, body, err := f.get(c, path, header)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	return status, body
}

func (f *fixture) lastSeen() seenRequest {
	f.t.Helper()
	select {
	case s := <-f.seen:
		return s
	case <-time.After(5 * time.Second):
		f.t.Fatal("the API server received nothing")
		return seenRequest{}
	}
}

func (f *fixture) expectNothingSeen() {
	f.t.Helper()
	select {
	case s := <-f.seen:
		f.t.Fatalf("the API server received %s, which the supervisor should have answered", s.path)
	default:
	}
}

func remoteHeaders(h http.Header) []string {
	var names []string
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-remote-") {
			names = append(names, name)
		}
	}
	return names
}

func TestClientCertificateBecomesRequestHeaderIdentity(t *testing.T) {
	f := newFixture(t)
	alice := f.clientCA.issueClient(t, t.TempDir(), "alice", "dev", "ops")
	status, body := f.mustGet(f.client(&alice.tls), "/api/v1/namespaces", map[string]string{
		"X-Remote-User":         "root",
		"X-Remote-Group":        "system:masters",
		"X-Remote-Extra-Scopes": "all",
	})
	if status != http.StatusOK || body != "apiserver" {
		t.Fatalf("got %d %q, want the API server's 200", status, body)
	}
	s := f.lastSeen()
	if s.peer != "system:auth-proxy" {
		t.Errorf("the API server saw client certificate %q, want the proxy's (system:auth-proxy)", s.peer)
	}
	if got := s.header.Values("X-Remote-User"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("X-Remote-User = %q, want [alice]", got)
	}
	if got := strings.Join(s.header.Values("X-Remote-Group"), ","); got != "dev,ops" {
		t.Errorf("X-Remote-Group = %q, want dev,ops", got)
	}
	if got := s.header.Get("X-Remote-Extra-Scopes"); got != "" {
		t.Errorf("the client's X-Remote-Extra-Scopes arrived: %q", got)
	}
}

func TestBearerTokenGoesOnWithoutProxyIdentity(t *testing.T) {
	f := newFixture(t)
	status, _ := f.mustGet(f.client(nil), "/api/v1/pods", map[string]string{"Authorization": "Bearer pod-token"})
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	s := f.lastSeen()
	if got := s.header.Get("Authorization"); got != "Bearer pod-token" {
		t.Errorf("Authorization = %q, want it as sent", got)
	}
	if s.peer != "" {
		t.Errorf("the API server saw client certificate %q, want none", s.peer)
	}
	if names := remoteHeaders(s.header); len(names) > 0 {
		t.Errorf("X-Remote-* headers arrived: %v", names)
	}
}

func TestSpoofedRemoteHeadersAreRemoved(t *testing.T) {
	f := newFixture(t)
	f.mustGet(f.client(nil), "/api/v1/secrets", map[string]string{
		"X-Remote-User":      "admin",
		"x-remote-group":     "system:masters",
		"X-Remote-Extra-Foo": "bar",
	})
	s := f.lastSeen()
	if names := remoteHeaders(s.header); len(names) > 0 {
		t.Errorf("spoofed headers arrived: %v", names)
	}
	if s.peer != "" {
		t.Errorf("the API server saw client certificate %q, want none", s.peer)
	}
}

func TestForeignClientCertificateIsNotHonoured(t *testing.T) {
	f := newFixture(t)
	mallory := newTestCA(t, "mallory-ca").issueClient(t, t.TempDir(), "alice", "system:masters")

	// Go's client leaves out a certificate that no CA the server names has
	// signed, so the request comes as an anonymous one.
	f.mustGet(f.client(&mallory.tls), "/api/v1/secrets", nil)
	if s := f.lastSeen(); s.peer != "" || len(remoteHeaders(s.header)) > 0 {
		t.Errorf("a certificate from another CA was honoured: peer %q, headers %v", s.peer, s.header)
	}

	// A client that sends it anyway fails the handshake.
	forcing := f.client(nil)
	forcing.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &mallory.tls, nil
	}
	if status, _, err := f.get(forcing, "/api/v1/secrets", nil); err == nil {
		t.Errorf("a certificate from another CA was accepted at the TLS layer (status %d)", status)
	}
	f.expectNothingSeen()
}

func TestCACertsAndPingNeedNoCredentials(t *testing.T) {
	f := newFixture(t)
	if status, body := f.mustGet(f.client(nil), "/cacerts", nil); status != http.StatusOK || body != string(f.serverCA.pem) {
		t.Errorf("/cacerts: %d %q, want 200 and the server CA file", status, body)
	}
	if status, body := f.mustGet(f.client(nil), "/ping", nil); status != http.StatusOK || body != "pong" {
		t.Errorf("/ping: %d %q, want 200 pong", status, body)
	}
	f.expectNothingSeen()
}

func TestStaticServesOnlyFilesInsideItsDirectory(t *testing.T) {
	f := newFixture(t)
	c := f.client(nil)
	for _, path := range []string{"/static/hello.txt", "/static/sub/nested.txt", "/static/alias.txt"} {
		if status, body := f.mustGet(c, path, nil); status != http.StatusOK || body != helloText {
			t.Errorf("%s: %d %q, want 200 and the file", path, status, body)
		}
	}
	for _, path := range []string{
		"/static/../secret.txt",
		"/static/sub/../../secret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/leak.txt",
		"/static/abs.txt",
		"/static/out/secret.txt",
		"/static/",
		"/static/sub",
		"/static/sub/",
		"/static/missing.txt",
	} {
		status, body := f.mustGet(c, path, nil)
		if status != http.StatusNotFound || strings.Contains(body, "SECRET") {
			t.Errorf("%s: %d %q, want 404", path, status, body)
		}
	}
	f.expectNothingSeen()
}

func TestStreamedResponseIsFlushedAtOnce(t *testing.T) {
	f := newFixture(t)
	resp, err := f.client(nil).Get(f.sup.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	head := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		head <- line
	}()
	select {
	case line := <-head:
		if line != streamHead {
			t.Fatalf("first line %q, want %q", line, streamHead)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first line did not come before the API server finished")
	}
	close(f.release)
	if rest, _ := io.ReadAll(br); string(rest) != streamTail {
		t.Errorf("rest %q, want %q", rest, streamTail)
	}
}

func TestUpgradeRoundTrips(t *testing.T) {
	f := newFixture(t)
	host := strings.TrimPrefix(f.sup.URL, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: f.serverCA.pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /upgrade HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo-test\r\nAuthorization: Bearer t\r\n\r\n", host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo-test" {
		t.Fatalf("got %s with Upgrade %q, want 101 echo-test", resp.Status, resp.Header.Get("Upgrade"))
	}
	io.WriteString(conn, "over the upgraded connection\n")
	if line, err := br.ReadString('\n'); err != nil || line != "over the upgraded connection\n" {
		t.Errorf("echo %q, %v", line, err)
	}
}

func TestProxyErrorIsLoggedWithoutTheToken(t *testing.T) {
	f := newFixture(t)
	f.backend.Close()
	status, _ := f.mustGet(f.client(nil), "/api", map[string]string{"Authorization": "Bearer very-secret-token"})
	if status != http.StatusBadGateway {
		t.Errorf("status %d, want 502", status)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `level=error msg="proxying GET /api to the API server`) {
		t.Errorf("no error line in the log:\n%s", logs)
	}
	if strings.Contains(logs, "very-secret-token") {
		t.Errorf("the token is in the log:\n%s", logs)
	}
}

func (c config) args() []string {
	return []string{
		"--listen", c.listen, "--tls-cert", c.tlsCert, "--tls-key", c.tlsKey,
		"--client-ca", c.clientCA, "--server-ca", c.serverCA, "--static-dir", c.staticDir,
		"--apiserver", c.apiserver, "--apiserver-ca", c.apiserverCA,
		"--proxy-client-cert", c.proxyClientCert, "--proxy-client-key", c.proxyClientKey,
	}
}

func TestRunServesUntilCancelledAndExitsZero(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.cfg.listen = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	code := make(chan int, 1)
	go func() { code <- run(ctx, f.cfg.args(), io.Discard, stderr) }()

	url := "https://" + f.cfg.listen + "/ping"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := f.client(nil).Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not answer %s: %v\n%s", url, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d, want 0\n%s", c, stderr.String())
		}
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatal("run did not return after its context ended")
	}
	for _, want := range []string{`level=info msg="k3s supervisor stand-in listening on`, `level=info msg="stopped"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, stderr.String())
		}
	}
}

func TestRunRefusesBadInvocationsInOneLine(t *testing.T) {
	f := newFixture(t)
	withFlag := func(name, value string) []string {
		args := f.cfg.args()
		for i := range args {
			if args[i] == name {
				args[i+1] = value
			}
		}
		return args
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{nil, "missing required flags: --tls-cert, --tls-key, --client-ca, --server-ca, --static-dir, --apiserver-ca, --proxy-client-cert, --proxy-client-key"},
		{append(f.cfg.args(), "extra"), `unexpected argument \"extra\"`},
		{withFlag("--server-ca", "/nonexistent/ca.crt"), "could not read --server-ca: open /nonexistent/ca.crt"},
		{withFlag("--client-ca", f.cfg.tlsKey), "no PEM certificate in --client-ca"},
		{withFlag("--static-dir", "/nonexistent"), "could not open --static-dir"},
		{withFlag("--apiserver", "http://127.0.0.1:6444"), "is not an https://host:port URL"},
		{withFlag("--proxy-client-key", f.cfg.tlsKey), "could not load --proxy-client-cert/--proxy-client-key"},
	} {
		stderr := &syncBuffer{}
		if code := run(context.Background(), tc.args, io.Discard, stderr); code != 1 {
			t.Errorf("%v: exit code %d, want 1", tc.args, code)
		}
		out := stderr.String()
		if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=fatal") || !strings.Contains(out, tc.want) {
			t.Errorf("%v: stderr %q, want one fatal line with %q", tc.args, out, tc.want)
		}
	}
}

func TestVersionSaysStandIn(t *testing.T) {
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &stdout, io.Discard); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(stdout.String(), "STAND-IN for k3s's supervisor") || !strings.Contains(stdout.String(), "not k3s") {
		t.Errorf("-version says %q", stdout.String())
	}
}

// syncBuffer is a log sink that server goroutines may write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

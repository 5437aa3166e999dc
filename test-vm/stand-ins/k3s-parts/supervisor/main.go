// Command k3s-supervisor is a STAND-IN for k3s's supervisor, written for the
// floppies-installer test profile; it is not k3s and proves nothing about k3s.
// In the test profile's "k3s made of real parts" (a real kube-apiserver on
// 6444 and its companions, built from the Go module proxy because k3s itself
// cannot be fetched there) it takes the place of the HTTPS listener k3s runs
// on 6443: it answers /ping, /cacerts and /static/ itself, without
// authentication as k3s does, and reverse-proxies everything else to
// kube-apiserver. A client certificate that verifies against --client-ca is
// passed on as kube-apiserver's request-header identity; bearer tokens and
// anonymous requests are passed on untouched for kube-apiserver to judge.
// Not in it: k3s's /v1-k3s/* routes (node certificates, config, the agent
// tunnel), its token authentication, and every other part of k3s.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const versionLine = "k3s-supervisor floppies-stand-in-1: a STAND-IN for k3s's supervisor, written for the floppies-installer test profile; not k3s"

// shutdownGrace bounds the wait for open requests at SIGTERM: watches and
// exec sessions never finish by themselves.
const shutdownGrace = 5 * time.Second

type config struct {
	listen, tlsCert, tlsKey, clientCA, serverCA, staticDir  string
	apiserver, apiserverCA, proxyClientCert, proxyClientKey string
	showVersion                                             bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	log := newLogger(stderr)
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		log.Fatalf("%v (run with -help for the flags)", err)
		return 1
	}
	if cfg.showVersion {
		fmt.Fprintln(stdout, versionLine)
		return 0
	}
	srv, err := newServer(cfg, log)
	if err != nil {
		log.Fatalf("%v", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		log.Fatalf("could not listen on --listen %s: %v", cfg.listen, err)
		return 1
	}
	log.Infof("k3s supervisor stand-in listening on %s, proxying to %s", ln.Addr(), cfg.apiserver)
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-served:
		log.Fatalf("serving on %s: %v", ln.Addr(), err)
		return 1
	case <-ctx.Done():
	}
	log.Infof("shutting down")
	grace, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(grace); err != nil {
		srv.Close()
	}
	log.Infof("stopped")
	return 0
}

func parseFlags(args []string, stdout io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("k3s-supervisor", flag.ContinueOnError)
	// Errors come back to run as one log line; only -help prints the list.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVar(&c.showVersion, "version", false, "print what this program is and exit")
	fs.StringVar(&c.listen, "listen", ":6443", "address to serve HTTPS on")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serving certificate (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "serving certificate's key (PEM)")
	fs.StringVar(&c.clientCA, "client-ca", "", "CA whose client certificates are passed on as the user they name (PEM)")
	fs.StringVar(&c.serverCA, "server-ca", "", "file served as is at /cacerts (PEM)")
	fs.StringVar(&c.staticDir, "static-dir", "", "directory whose files are served under /static/")
	fs.StringVar(&c.apiserver, "apiserver", "https://127.0.0.1:6444", "kube-apiserver's URL")
	fs.StringVar(&c.apiserverCA, "apiserver-ca", "", "CA that kube-apiserver's serving certificate is verified against (PEM)")
	fs.StringVar(&c.proxyClientCert, "proxy-client-cert", "", "this proxy's client certificate for kube-apiserver's request-header authentication (PEM)")
	fs.StringVar(&c.proxyClientKey, "proxy-client-key", "", "that certificate's key (PEM)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, versionLine)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.showVersion {
		return c, nil
	}
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"tls-cert", c.tlsCert}, {"tls-key", c.tlsKey}, {"client-ca", c.clientCA},
		{"server-ca", c.serverCA}, {"static-dir", c.staticDir}, {"apiserver-ca", c.apiserverCA},
		{"proxy-client-cert", c.proxyClientCert}, {"proxy-client-key", c.proxyClientKey},
	} {
		if f.value == "" {
			missing = append(missing, "--"+f.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing required flags: %s", strings.Join(missing, ", "))
	}
	return c, nil
}

// newServer reads every file the flags name, so that a bad one stops the
// program at start rather than at the first request.
func newServer(c config, log *logger) (*http.Server, error) {
	serving, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("could not load --tls-cert/--tls-key: %w", err)
	}
	clientCAs, err := readCertPool("client-ca", c.clientCA)
	if err != nil {
		return nil, err
	}
	serverCA, err := os.ReadFile(c.serverCA)
	if err != nil {
		return nil, fmt.Errorf("could not read --server-ca: %w", err)
	}
	static, err := os.OpenRoot(c.staticDir)
	if err != nil {
		return nil, fmt.Errorf("could not open --static-dir: %w", err)
	}
	target, err := url.Parse(c.apiserver)
	if err != nil || target.Scheme != "https" || target.Host == "" {
		return nil, fmt.Errorf("--apiserver %q is not an https://host:port URL", c.apiserver)
	}
	apiserverCAs, err := readCertPool("apiserver-ca", c.apiserverCA)
	if err != nil {
		return nil, err
	}
	proxyCert, err := tls.LoadX509KeyPair(c.proxyClientCert, c.proxyClientKey)
	if err != nil {
		return nil, fmt.Errorf("could not load --proxy-client-cert/--proxy-client-key: %w", err)
	}
	return &http.Server{
		Handler: &routes{
			serverCA:  serverCA,
			static:    staticFiles{root: static},
			apiserver: newAPIServerProxy(target, apiserverCAs, proxyCert, log),
		},
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serving},
			// Agents and pods come without a client certificate; a
			// certificate that is sent must verify, or the handshake fails.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  clientCAs,
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.errorLog(),
	}, nil
}

func readCertPool(flagName, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read --%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in --%s %s", flagName, path)
	}
	return pool, nil
}

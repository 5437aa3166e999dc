// Command k3s-ingress is a STAND-IN for Traefik, the ingress controller k3s
// ships (exposed on the node's ports 80 and 443 by ServiceLB), written by
// floppies-installer for its test profile's k3s made of real parts, because
// Traefik cannot be built here. It is not Traefik and proves nothing about
// Traefik. It runs on the node and serves the cluster's Ingress rules over
// plain HTTP: a process of the test cluster (share/ingress-routes.py) writes
// them from the API server's Ingresses and Services into a routes file of lines
// "HOST PATH BACKEND", and each request is proxied to the Service cluster IP
// of the route its host and path match (pathType Prefix), reachable from the
// node through kube-proxy's rules. Not in it: TLS, wildcard hosts, Exact and
// ImplementationSpecific paths, IngressClass, Traefik's CRDs and middlewares.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	version = "v1-floppies-stand-in"
	// Long enough for the smoke check's downloads to finish, short enough
	// to stay inside a systemd stop timeout.
	shutdownGrace = 10 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx is done, then shuts down gracefully; it returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("k3s-ingress", flag.ContinueOnError)
	// Errors are reported by us, in one line; usage is printed on -help only.
	flags.SetOutput(io.Discard)
	listen := flags.String("listen", ":80", "`ADDRESS` to serve HTTP on")
	routesPath := flags.String("routes", "", "routes `FILE`, lines \"HOST PATH BACKEND\" (required)")
	showVersion := flags.Bool("version", false, "print the version and exit")
	err := flags.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stdout, "usage: k3s-ingress --routes FILE [--listen ADDRESS]\n"+
			"A STAND-IN for Traefik (k3s's ingress) for the floppies test profile; it is not Traefik.")
		flags.SetOutput(stdout)
		flags.PrintDefaults()
		return 0
	case err != nil:
		return usageError(stderr, err.Error())
	case *showVersion:
		fmt.Fprintf(stdout, "k3s-ingress %s (a STAND-IN for Traefik, k3s's ingress, written for the floppies test profile; it is not Traefik)\n", version)
		return 0
	case flags.NArg() > 0:
		return usageError(stderr, fmt.Sprintf("unexpected argument %q", flags.Arg(0)))
	case *routesPath == "":
		return usageError(stderr, "--routes FILE is required")
	}

	lg := &logger{w: stderr}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		lg.errorf("cannot serve: %v", err)
		return 1
	}
	lg.infof("k3s-ingress %s (a stand-in for Traefik, not Traefik) listening on %s, routes from %s", version, ln.Addr(), *routesPath)
	routes := &routesFile{path: *routesPath, every: time.Second, log: lg}
	routes.current()
	srv := &http.Server{
		Handler:           newIngress(routes, lg),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(levelWriter{lg, "warning"}, "", 0),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		lg.errorf("stopped serving: %v", err)
		return 1
	case <-ctx.Done():
	}
	lg.infof("shutting down, waiting up to %s for open requests", shutdownGrace)
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		lg.warnf("open requests cut off: %v", err)
		srv.Close()
	}
	lg.infof("stopped")
	return 0
}

func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "k3s-ingress: error: %s (see --help)\n", msg)
	return 1
}

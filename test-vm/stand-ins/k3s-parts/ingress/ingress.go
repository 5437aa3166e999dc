package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// ingress answers each request by the route its host and path match, as
// Traefik does for k3s's Ingresses, proxying to the route's Service IP.
type ingress struct {
	routes    *routesFile
	transport http.RoundTripper
	log       *logger
	errorLog  *log.Logger // for the errors ReverseProxy logs itself (a body cut off midway)
}

func newIngress(routes *routesFile, lg *logger) *ingress {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Backends are cluster IPs: an HTTP_PROXY in the node's environment
	// must not catch them.
	t.Proxy = nil
	// Otherwise the transport asks for gzip itself and unzips the answer, and
	// the client would not get the body the backend sent.
	t.DisableCompression = true
	return &ingress{routes: routes, transport: t, log: lg, errorLog: log.New(levelWriter{lg, "error"}, "", 0)}
}

func (in *ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := in.routes.current()
	if t == nil {
		http.Error(w, "k3s-ingress stand-in (not Traefik): no routes file, so no routes", http.StatusServiceUnavailable)
		return
	}
	rt, ok := t.match(requestHost(r.Host), r.URL.Path)
	if !ok {
		// Traefik's own answer, word for word.
		http.NotFound(w, r)
		return
	}
	in.proxyTo(rt.backend).ServeHTTP(w, r)
}

// proxyTo makes the proxy for one request; a ReverseProxy is a few fields,
// and the transport, which holds the connections, is shared.
func (in *ingress) proxyTo(backend *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			// SetURL puts the backend's address in Host; the app behind an
			// ingress sees the host the client asked for.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: in.transport,
		// Flush at once, so streamed answers are not held back.
		FlushInterval: -1,
		ErrorLog:      in.errorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A client that went away is not a backend error.
			if !errors.Is(err, context.Canceled) {
				in.log.errorf("backend %s for %s%s: %v", backend, r.Host, r.URL.Path, err)
			}
			http.Error(w, "k3s-ingress stand-in (not Traefik): Bad Gateway", http.StatusBadGateway)
		},
	}
}

// requestHost is the Host header as routes name hosts: lower case, no port.
func requestHost(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

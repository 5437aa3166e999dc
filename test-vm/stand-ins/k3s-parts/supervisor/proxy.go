package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Header names kube-apiserver is started with (--requestheader-*-headers).
const (
	remoteUserHeader  = "X-Remote-User"
	remoteGroupHeader = "X-Remote-Group"
	remoteHeaderStart = "x-remote-" // also covers X-Remote-Extra-*
)

// apiserverProxy forwards a request to kube-apiserver in one of two ways.
// A client whose certificate verified against --client-ca is vouched for:
// the request goes over a connection that presents the proxy's client
// certificate, with the user and groups in X-Remote-* headers. Any other
// request (a bearer token, or nothing) goes over a connection with no client
// certificate, so that kube-apiserver authenticates it by itself; sending it
// with the proxy's certificate would make it the proxy's user.
type apiserverProxy struct {
	vouched     *httputil.ReverseProxy
	passThrough *httputil.ReverseProxy
}

func newAPIServerProxy(target *url.URL, apiserverCAs *x509.CertPool, proxyCert tls.Certificate, log *logger) *apiserverProxy {
	return &apiserverProxy{
		vouched:     newReverseProxy(target, apiserverTransport(apiserverCAs, []tls.Certificate{proxyCert}), setRemoteIdentity, log),
		passThrough: newReverseProxy(target, apiserverTransport(apiserverCAs, nil), keepClientCredentials, log),
	}
}

func (p *apiserverProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		p.passThrough.ServeHTTP(w, r)
		return
	}
	// Without a user name kube-apiserver's request-header authenticator
	// declines, and the next one would take the proxy's own certificate.
	if r.TLS.VerifiedChains[0][0].Subject.CommonName == "" {
		http.Error(w, "client certificate has no common name", http.StatusUnauthorized)
		return
	}
	p.vouched.ServeHTTP(w, r)
}

// setRemoteIdentity names the verified client certificate's subject, the way
// kube-apiserver would read it: CN is the user, each O a group.
func setRemoteIdentity(pr *httputil.ProxyRequest) {
	cert := pr.In.TLS.VerifiedChains[0][0]
	pr.Out.Header.Set(remoteUserHeader, cert.Subject.CommonName)
	for _, group := range cert.Subject.Organization {
		pr.Out.Header.Add(remoteGroupHeader, group)
	}
}

// keepClientCredentials adds nothing: the Authorization header (or a
// websocket's bearer-token subprotocol) goes on as the client sent it.
func keepClientCredentials(*httputil.ProxyRequest) {}

func newReverseProxy(target *url.URL, transport http.RoundTripper, identify func(*httputil.ProxyRequest), log *logger) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			dropRemoteHeaders(pr.Out.Header)
			identify(pr)
		},
		Transport: transport,
		// Watches, logs -f and exec stream: every write goes to the client at once.
		FlushInterval: -1,
		ErrorLog:      log.errorLog(),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// A client that hangs up (the end of every watch) is not an error.
			if !errors.Is(err, context.Canceled) {
				log.Errorf("proxying %s %s to the API server: %v", r.Method, r.URL.Path, err)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// dropRemoteHeaders removes X-Remote-* headers a client sent itself, which
// would otherwise pass for the proxy's word on who the client is.
func dropRemoteHeaders(h http.Header) {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), remoteHeaderStart) {
			delete(h, name)
		}
	}
}

// apiserverTransport speaks HTTP/1.1 only: the Upgrade requests of kubectl
// exec, attach and port-forward (SPDY as well as websocket) cannot go over
// HTTP/2. Proxy is left nil so that no HTTPS_PROXY in the environment is used
// for the local API server.
func apiserverTransport(cas *x509.CertPool, clientCerts []tls.Certificate) *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:      cas,
			Certificates: clientCerts,
			MinVersion:   tls.VersionTLS12,
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
}

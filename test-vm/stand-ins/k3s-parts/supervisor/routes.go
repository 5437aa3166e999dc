package main

import (
	"net/http"
	"strings"
)

const staticPrefix = "/static/"

// routes answers the k3s routes this stand-in keeps (k3s's
// pkg/server/handlers/router.go serves the same three before any
// authentication) and hands every other request to the API server.
//
// Not http.ServeMux: it cleans paths and redirects "/static/../x" to "/x",
// which would send such a request to the API server instead of refusing it,
// and it would rewrite API paths that the API server should see as sent.
type routes struct {
	serverCA  []byte
	static    http.Handler
	apiserver http.Handler
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/ping":
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("pong"))
	case r.URL.Path == "/cacerts":
		// Joining agents fetch this before they hold any credential and
		// check it against the hash in their token.
		w.Header().Set("Content-Type", "text/plain")
		w.Write(rt.serverCA)
	case strings.HasPrefix(r.URL.Path, staticPrefix):
		rt.static.ServeHTTP(w, r)
	default:
		rt.apiserver.ServeHTTP(w, r)
	}
}

package main

import (
	"io/fs"
	"net/http"
	"os"
	"strings"
)

// staticFiles serves the regular files under one directory at /static/.
// Stricter than k3s's http.FileServer on purpose: no directory listings, and
// os.Root refuses names and symlinks that lead out of the directory.
type staticFiles struct {
	root *os.Root
}

func (s staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, staticPrefix)
	// fs.ValidPath refuses "", "..", "." and empty elements before the
	// file system is asked at all.
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	f, err := s.root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
}

package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseRoute(t *testing.T) {
	good := []string{
		"app.example / http://10.43.0.10:80",
		"* /api/ http://[fd00:43::a]:8080",
		"APP.Example /x http://10.43.0.10:65535",
	}
	for _, line := range good {
		if _, err := parseRoute(line); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
	bad := []string{
		"app.example /", // two fields
		"app.example / http://10.43.0.10:80 extra", // four fields
		"*.example / http://10.43.0.10:80",         // wildcard host
		"app.example:80 / http://10.43.0.10:80",    // port in host
		"app.example x http://10.43.0.10:80",       // path without /
		"* / http://svc.default:80",                // a name, not an IP
		"* / https://10.43.0.10:443",               // not http
		"* / http://10.43.0.10",                    // no port
		"* / http://10.43.0.10:0",                  // port out of range
		"* / http://10.43.0.10:80/",                // a path
		"* / http://10.43.0.10:80?q",               // a query
		"* / http://user@10.43.0.10:80",            // user info
		"* / http://[10.43.0.10]:80",               // IPv4 in brackets
		"* / http://fd00::a:80",                    // IPv6 without brackets
		"* / http://[fe80::1%25eth0]:80",           // a zone
		"* / 10.43.0.10:80",                        // no scheme
	}
	for _, line := range bad {
		if _, err := parseRoute(line); err == nil {
			t.Errorf("%q parsed", line)
		}
	}
}

func TestRoutesFileLooksAtMostEveryInterval(t *testing.T) {
	file := writeRoutes(t, "* / http://10.43.0.1:80")
	f := &routesFile{path: file, every: time.Hour, log: &logger{w: io.Discard}}
	if got := f.current().size; got != 1 {
		t.Fatalf("first read: %d routes, want 1", got)
	}
	if err := os.WriteFile(file, []byte(strings.Repeat("* / http://10.43.0.1:80\n", 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := f.current().size; got != 1 {
		t.Errorf("read again within the interval: %d routes, want the 1 from before", got)
	}
	f.every = 0
	if got := f.current().size; got != 2 {
		t.Errorf("after the interval: %d routes, want 2", got)
	}
}

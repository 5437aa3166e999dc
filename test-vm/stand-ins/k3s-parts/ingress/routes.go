package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// anyHost is the HOST of a route that applies whatever the request's host.
const anyHost = "*"

// route sends the requests for host whose path lies under prefix to backend.
type route struct {
	host    string
	prefix  string
	backend *url.URL
}

// covers is true when path lies under the route's prefix element by element,
// as Ingress pathType Prefix says: /foo covers /foo and /foo/bar, not
// /foobar; a trailing slash in the prefix changes nothing.
func (r route) covers(path string) bool {
	p := strings.TrimSuffix(r.prefix, "/")
	return p == "" || path == p || strings.HasPrefix(path, p+"/")
}

// table holds the routes of one version of the routes file, each list
// longest prefix first.
type table struct {
	byHost  map[string][]route
	anyHost []route
	size    int
}

func newTable(routes []route) *table {
	t := &table{byHost: map[string][]route{}, size: len(routes)}
	for _, r := range routes {
		if r.host == anyHost {
			t.anyHost = append(t.anyHost, r)
		} else {
			t.byHost[r.host] = append(t.byHost[r.host], r)
		}
	}
	longestFirst := func(rs []route) {
		// Stable, so of two routes with the same prefix the earlier line wins.
		sort.SliceStable(rs, func(i, j int) bool {
			return len(strings.TrimSuffix(rs[i].prefix, "/")) > len(strings.TrimSuffix(rs[j].prefix, "/"))
		})
	}
	for _, rs := range t.byHost {
		longestFirst(rs)
	}
	longestFirst(t.anyHost)
	return t
}

// match finds the route for host and path: a route naming the host before a
// "*" one, then the longest prefix. A host whose own routes do not cover the
// path still gets the "*" routes, as Traefik routes a request no
// Host()-rule takes to a PathPrefix()-only rule.
func (t *table) match(host, path string) (route, bool) {
	for _, rs := range [][]route{t.byHost[host], t.anyHost} {
		for _, r := range rs {
			if r.covers(path) {
				return r, true
			}
		}
	}
	return route{}, false
}

// parseRoutes reads the lines "HOST PATH BACKEND" of a routes file. A line
// that does not parse is logged and skipped, so one odd Ingress does not take
// the others' routes down.
func parseRoutes(r io.Reader, name string, log *logger) (*table, error) {
	var routes []route
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rt, err := parseRoute(line)
		if err != nil {
			log.warnf("%s line %d skipped: %v", name, n, err)
			continue
		}
		routes = append(routes, rt)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return newTable(routes), nil
}

func parseRoute(line string) (route, error) {
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return route{}, fmt.Errorf("want HOST PATH BACKEND, got %d fields", len(fields))
	}
	host, prefix := strings.ToLower(fields[0]), fields[1]
	// Wildcard hosts (*.example.com) are Ingress, but not this stand-in's:
	// refused rather than taken as a literal name no request carries.
	if host != anyHost && strings.ContainsAny(host, "*/:") {
		return route{}, fmt.Errorf("host %q is neither a host name nor *", fields[0])
	}
	if !strings.HasPrefix(prefix, "/") {
		return route{}, fmt.Errorf("path %q does not start with /", prefix)
	}
	backend, err := parseBackend(fields[2])
	if err != nil {
		return route{}, err
	}
	return route{host: host, prefix: prefix, backend: backend}, nil
}

// parseBackend takes exactly http://IP:PORT (an IPv6 address in brackets):
// the routes point at Service cluster IPs, and a name would need a resolver
// the node does not have for cluster names.
func parseBackend(s string) (*url.URL, error) {
	bad := fmt.Errorf("backend %q is not http://IP:PORT", s)
	u, err := url.Parse(s)
	// Rebuilt and compared, so anything but a scheme http and a host (a
	// user, a path, a query, an escaped IPv6 zone) is refused.
	if err != nil || s != "http://"+u.Host {
		return nil, bad
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, bad
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return nil, bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, bad
	}
	return u, nil
}

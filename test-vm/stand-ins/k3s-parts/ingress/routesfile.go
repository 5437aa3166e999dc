package main

import (
	"os"
	"sync"
	"time"
)

// routesFile is the routes file as last read. The cluster's script rewrites
// it (or renames a new one over it) as Ingresses and Services change, so it
// is looked at again at most every `every`, and read again only when it is
// another file or its mtime or size changed.
type routesFile struct {
	path  string
	every time.Duration
	log   *logger

	mu      sync.Mutex
	checked time.Time
	seen    os.FileInfo // the version table came from; nil while unreadable
	table   *table      // nil while the file cannot be read: no routes
	problem string      // the error last logged, so a lasting one is logged once
}

// current returns the routes to use now, nil when there is no routes file.
func (f *routesFile) current() *table {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.checked.IsZero() && time.Since(f.checked) < f.every {
		return f.table
	}
	f.checked = time.Now()
	f.refresh()
	return f.table
}

func (f *routesFile) refresh() {
	file, err := os.Open(f.path)
	var info os.FileInfo
	if err == nil {
		defer file.Close()
		// Stat of the open file, so info describes the version read below
		// even if a new file is renamed over the path meanwhile.
		info, err = file.Stat()
	}
	if err == nil && f.seen != nil && sameVersion(f.seen, info) {
		return
	}
	var t *table
	if err == nil {
		t, err = parseRoutes(file, f.path, f.log)
	}
	if err != nil {
		if err.Error() != f.problem {
			f.log.warnf("no routes (answering 503) until the routes file can be read: %v", err)
			f.problem = err.Error()
		}
		f.seen, f.table = nil, nil
		return
	}
	f.seen, f.table, f.problem = info, t, ""
	f.log.infof("loaded %d routes from %s", t.size, f.path)
}

// sameVersion is true when a and b are the same file, unchanged: a rename
// over the path makes another file, an edit in place changes mtime or size.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

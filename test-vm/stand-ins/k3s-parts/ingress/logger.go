package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// logger writes lines in the logrus text format k3s and its parts log in
// (time="..." level=... msg="..."), so this stand-in's log reads like theirs
// in the node's journal.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) logf(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339), level, msg)
}

func (l *logger) infof(format string, args ...any)  { l.logf("info", format, args...) }
func (l *logger) warnf(format string, args ...any)  { l.logf("warning", format, args...) }
func (l *logger) errorf(format string, args ...any) { l.logf("error", format, args...) }

// levelWriter makes one log line at level of each message net/http prints
// through its *log.Logger (ReverseProxy.ErrorLog, Server.ErrorLog).
type levelWriter struct {
	log   *logger
	level string
}

func (w levelWriter) Write(p []byte) (int, error) {
	w.log.logf(w.level, "%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

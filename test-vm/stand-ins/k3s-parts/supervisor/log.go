package main

import (
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"time"
)

// logger writes one line per event in the text format k3s's logrus uses, so
// the test profile's log checks read this program's lines as they read k3s's.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogger(w io.Writer) *logger { return &logger{w: w} }

func (l *logger) print(level, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "time=%q level=%s msg=%q\n", time.Now().Format(time.RFC3339), level, msg)
}

func (l *logger) Infof(format string, args ...any)  { l.print("info", format, args...) }
func (l *logger) Errorf(format string, args ...any) { l.print("error", format, args...) }
func (l *logger) Fatalf(format string, args ...any) { l.print("fatal", format, args...) }

// errorLog is for net/http's own messages (TLS handshake failures, proxy copy
// errors), which otherwise go to the standard logger in another format.
func (l *logger) errorLog() *log.Logger { return log.New(errorWriter{l}, "", 0) }

type errorWriter struct{ l *logger }

func (e errorWriter) Write(p []byte) (int, error) {
	e.l.Errorf("%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBadFlagsOneErrorLineExit1(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--bogus"},
		{"--routes"},
		{"--routes", "f", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "k3s-ingress: error: ") || stdout.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want exit 1 and one error line", args, code, stderr.String(), stdout.String())
		}
	}
}

func TestVersionSaysStandIn(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "STAND-IN for Traefik") || !strings.Contains(out, "not Traefik") {
		t.Errorf("version %q does not say it is a stand-in", out)
	}
}

func TestStopsGracefullyExit0(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--routes", filepath.Join(t.TempDir(), "absent")}, &bytes.Buffer{}, logs)
	}()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("did not start:\n%s", logs)
		}
	}
	stop()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(logs.String(), `msg="stopped"`) {
			t.Errorf("exit %d, want 0 after a graceful stop:\n%s", code, logs)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("did not stop:\n%s", logs)
	}
}

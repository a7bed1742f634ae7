package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runOnce read the suite's output with a bufio.Scanner and did not check
// its error: a line longer than 64 KiB (a benchmark printing a large value)
// stopped the reading, the suite then blocked writing to the full pipe, and
// Wait waited for it for ever, with raw.txt cut short.
func TestRunOnceLongLine(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "suite.test")
	script := "#!/bin/sh\n" +
		"head -c 200000 /dev/zero | tr '\\0' x; echo\n" +
		"head -c 200000 /dev/zero | tr '\\0' y; echo\n" +
		"echo 'BenchmarkX/w=a/impl=chan-2 \t 1000 \t 20 ns/op'\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runOnce(&raw, &progress{total: 1, start: time.Now()}, bin, ".", "1x", "2", 1, 1)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("runOnce still waiting after 20s")
	}
	if !strings.Contains(raw.String(), "BenchmarkX/w=a/impl=chan-2") || raw.Len() < 400000 {
		t.Errorf("raw output %d bytes, without the result line", raw.Len())
	}
}

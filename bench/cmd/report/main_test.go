package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Rendering a recorded run (-in) writes the report with its summary, tables
// and charts.
func TestRenderRecordedRun(t *testing.T) {
	out := t.TempDir()
	if err := run("1,2", 3, "100ms", ".", out, filepath.Join("..", "..", "internal", "report", "testdata", "small.txt"), ""); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Summary", "| Locks | 1 | 1 | 1 |", "### Queues", "![Locks_workload=uncontended](charts/Locks_workload=uncontended.svg)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "charts", "Queues_workload=spsc.svg")); err != nil {
		t.Error(err)
	}
}

func TestDefaultCPUs(t *testing.T) {
	s := defaultCPUs()
	if !strings.HasPrefix(s, "1") {
		t.Fatalf("defaultCPUs() = %q, want it to start at 1", s)
	}
}

package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A kit runs where there is no Go toolchain: its report runs its prebuilt
// suite (-bin) with a PATH that holds no go command, and names the suite's
// toolchain in the report.
func TestKitRunsWithoutGo(t *testing.T) {
	kit := t.TempDir()
	t.Chdir(filepath.Join("..", "..")) // the bench module's root, where the report runs
	if err := buildKit(kit, runtime.GOOS+"/"+runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("./report", "-bin", "./suite.test", "-run", "Latch/n=2/", "-cpu", "1", "-count", "1", "-benchtime", "1x")
	cmd.Dir = kit
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kit report: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(kit, "results", "raw.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "goversion: "+runtime.Version()+"\n") {
		t.Errorf("raw.txt lacks the suite's goversion line:\n%s", raw)
	}
	md, err := os.ReadFile(filepath.Join(kit, "results", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- go: " + runtime.Version() + "\n", "Latch", "lockstep.latch.Latch"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}

	// Rendered again from its raw results (-in), the report still names
	// the suite's toolchain.
	out := t.TempDir()
	if err := run("1", 1, "1x", ".", out, filepath.Join(kit, "results", "raw.txt"), ""); err != nil {
		t.Fatal(err)
	}
	md, err = os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := ", " + runtime.Version() + ")\n"; !strings.Contains(string(md), want) {
		t.Errorf("re-rendered report.md lacks %q:\n%s", want, md)
	}
}

// -bin names the binary to run; a missing one is an error, not a reason to
// build the suite instead.
func TestBinMissing(t *testing.T) {
	err := run("1", 1, "1x", ".", t.TempDir(), "", filepath.Join(t.TempDir(), "no-such-suite.test"))
	if err == nil || !strings.Contains(err.Error(), "no-such-suite.test") {
		t.Fatalf("run with a missing -bin: %v, want an error naming it", err)
	}
}

// -target cross-compiles both binaries, and a malformed one is refused.
func TestKitTarget(t *testing.T) {
	kit := t.TempDir()
	t.Chdir(filepath.Join("..", ".."))
	target, machine := "linux/arm64", elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		target, machine = "linux/amd64", elf.EM_X86_64
	}
	if err := buildKit(kit, target); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"suite.test", "report"} {
		f, err := elf.Open(filepath.Join(kit, name))
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != machine {
			t.Errorf("%s is built for %v, want %v (%s)", name, f.Machine, machine, target)
		}
		f.Close()
		if out, err := exec.Command("go", "version", filepath.Join(kit, name)).CombinedOutput(); err != nil || !strings.Contains(string(out), runtime.Version()) {
			t.Errorf("go version %s: %v %s", name, err, out)
		}
	}
	if err := buildKit(t.TempDir(), "arm64"); err == nil {
		t.Error("buildKit with target \"arm64\" succeeded, want an error")
	}
}

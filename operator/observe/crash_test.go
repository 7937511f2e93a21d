package observe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCrashHeadline(t *testing.T) {
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	long := strings.Repeat("x", 1000)
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"writes", file("concurrent_map_writes.txt"), "fatal error: concurrent map writes"},
		{"panic", file("panic_nil_map.txt"), "panic: assignment to entry in nil map"},
		{"read and write", []byte("fatal error: concurrent map read and map write\n\ngoroutine 7 [running]:\n"), "fatal error: concurrent map read and map write"},
		{"iteration", []byte("fatal error: concurrent map iteration and map write\n"), "fatal error: concurrent map iteration and map write"},
		{"fatal beats panic", []byte("panic: boom\nfatal error: all goroutines are asleep - deadlock!\n"), "fatal error: all goroutines are asleep - deadlock!"},
		{"recovered", []byte("panic: first [recovered]\n\tpanic: second\n\ngoroutine 1 [running]:\n"), "panic: second"},
		{"last line", []byte("starting\nsignal: killed\n\n"), "signal: killed"},
		{"empty", nil, ""},
		{"blank", []byte("\n \n\t\n"), ""},
		{"cut", []byte("panic: " + long), "panic: " + long[:249] + "…"},
		{"tail only", append([]byte("fatal error: too early\n"+strings.Repeat("filler line\n", MaxCrashText/12+10)), "the end\n"...), "the end"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := CrashHeadline(c.in); got != c.want {
				t.Errorf("got %q want %q", got, c.want)
			}
		})
	}
}

const racyProgram = `package main

func main() {
	m := map[int]int{}
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; ; i++ {
				m[i%1024] = i
			}
		}()
	}
	select {}
}
`

// TestCrashHeadlineRealProgram crashes a real Go program with concurrent
// map writes and reads the headline from its stderr.
func TestCrashHeadlineRealProgram(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(racyProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, "run", src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=off")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("racy program exited cleanly:\n%s", out)
	}
	got := CrashHeadline(out)
	if !strings.HasPrefix(got, "fatal error: concurrent map") {
		t.Errorf("headline %q from:\n%s", got, out[:min(len(out), 2000)])
	}
	t.Logf("real crash headline: %q", got)
}

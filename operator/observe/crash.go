package observe

import (
	"bytes"
	"strings"
)

// MaxCrashText is how much of the end of a crash text CrashHeadline reads:
// a Go crash prints its headline before the stacks, and a kubelet keeps at
// most the last 2 KiB / 80 lines of a log as a termination message, so the
// headline is found near the tail or not at all.
const MaxCrashText = 64 << 10

// maxHeadline bounds the length of a headline.
const maxHeadline = 256

// CrashHeadline returns the line that explains a Go crash: the last
// "fatal error: ..." line (such as "fatal error: concurrent map writes"),
// else the last "panic: ..." line (with its "[recovered]" suffixes), else the
// last non-empty line. Only the last MaxCrashText bytes are read. Lines are
// trimmed and cut at 256 bytes. It returns "" for an empty text.
func CrashHeadline(text []byte) string {
	if len(text) > MaxCrashText {
		text = text[len(text)-MaxCrashText:]
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:] // drop the partial first line
		}
	}
	var fatal, panicLine, last string
	for _, raw := range bytes.Split(text, []byte("\n")) {
		line := strings.TrimSpace(string(raw))
		if line == "" {
			continue
		}
		last = line
		switch {
		case strings.HasPrefix(line, "fatal error: "):
			fatal = line
		case strings.HasPrefix(line, "panic: ") && !strings.HasPrefix(line, "panic: [recovered]"):
			panicLine = line
		}
	}
	for _, h := range []string{fatal, panicLine, last} {
		if h != "" {
			return truncate(h, maxHeadline)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

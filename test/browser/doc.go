// Package browser holds the kit's browser test: it runs real drills with
// the CLI, opens their report.html and the compare page in Chromium
// (driven by chromedp) and checks what a reader sees and does there. It has
// no code of its own; see browser_test.go.
package browser

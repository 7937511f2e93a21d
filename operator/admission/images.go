package admission

import (
	"fmt"
	"path"
	"strings"
)

// ImageRepository returns the repository of an image reference: the
// reference without its digest (@sha256:…) and without its tag (the last
// ":…" after the last "/", so a registry port such as localhost:5000 stays).
func ImageRepository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		image = image[:i]
	}
	return image
}

// ValidateImagePattern reports whether p is a usable pattern of
// --allowed-victim-images: not empty, and valid for path.Match.
func ValidateImagePattern(p string) error {
	if strings.TrimSpace(p) == "" {
		return fmt.Errorf("empty image pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("image pattern %q: %w", p, err)
	}
	return nil
}

// ImageAllowed reports whether image matches one of the patterns. A pattern
// with a tag or digest (a ":" after its last "/", or an "@") is matched
// with path.Match against the whole reference; a pattern without one is
// matched against the image's repository, so it allows every tag and
// digest of the repositories it matches. "*" never crosses a "/":
// "ghcr.io/cascadelab/*" allows ghcr.io/cascadelab/victim:v1 but not
// ghcr.io/cascadelab/x/y:v1. References are compared as written, with no
// registry or "library/" filled in.
func ImageAllowed(image string, patterns []string) bool {
	if image == "" {
		return false
	}
	repo := ImageRepository(image)
	for _, p := range patterns {
		subject := repo
		if ImageRepository(p) != p {
			subject = image
		}
		if ok, err := path.Match(p, subject); err == nil && ok {
			return true
		}
	}
	return false
}

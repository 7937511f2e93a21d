// Command images writes the node lab's container images as OCI image
// archives (an OCI layout in a tar: oci-layout, index.json, blobs/), one
// archive per image, each image one gzip layer of binaries (the Chaos Mesh
// ones are cgo builds and bring this host's glibc; chaos-daemon also gets the
// host tools it runs, with their shared libraries). The
// image's name is in the index's io.containerd.image.name annotation, so
// `ctr -n k8s.io images import FILE` stores it under exactly that name; the
// manifests and the Chaos Mesh chart then find it without a registry
// (imagePullPolicy IfNotPresent or Never).
//
//	go run . -bin DIR -out DIR [-only NAME,…]
//
// Layers are reproducible: fixed modification times, sorted entries, no
// creation date in the config.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// image describes one image: the names it is imported under, the binaries
// from -bin (file name → path in the image) and its config.
type image struct {
	file       string            // archive name under -out, without .tar
	names      []string          // full references, e.g. ghcr.io/cascadelab/victim:dev
	bins       map[string]string // file in -bin → absolute path in the image
	hostFiles  []string          // host files or directories copied with their ldd closure
	entrypoint []string
	cmd        []string
	user       string
	env        []string
}

// images are the node lab's images. Names are the ones the manifests
// (manifests/default: ghcr.io/cascadelab/*:dev; the operator's default
// :latest) and the Chaos Mesh chart (images.registry ghcr.io, tag v2.8.4)
// ask for; containerd's pinned sandbox image is registry.k8s.io/pause:3.10.2
// and the chart's pod-failure pause image gcr.io/google-containers/pause:latest.
// The Chaos Mesh binaries are built from the commit hack/chaos-mesh pins, not
// from the v2.8.4 release: the tag is only the name the chart looks up.
var images = []image{
	{file: "victim", names: []string{"ghcr.io/cascadelab/victim:dev", "ghcr.io/cascadelab/victim:latest"},
		bins: map[string]string{"victim": "/victim"}, entrypoint: []string{"/victim"}, cmd: []string{"--help"}, user: "65532:65532"},
	{file: "manager", names: []string{"ghcr.io/cascadelab/manager:dev", "ghcr.io/cascadelab/manager:latest"},
		bins: map[string]string{"manager": "/manager"}, entrypoint: []string{"/manager"}, user: "65532:65532"},
	{file: "pause", names: []string{"registry.k8s.io/pause:3.10.2", "gcr.io/google-containers/pause:latest"},
		bins: map[string]string{"pause": "/pause"}, entrypoint: []string{"/pause"}, user: "65535:65535"},
	{file: "coredns", names: []string{"localhost/cascadelab/coredns:v1.15.0"},
		bins: map[string]string{"coredns": "/coredns"}, entrypoint: []string{"/coredns"}},
	{file: "chaos-mesh", names: []string{"ghcr.io/chaos-mesh/chaos-mesh:v2.8.4"},
		bins:       map[string]string{"chaos-controller-manager": "/usr/local/bin/chaos-controller-manager"},
		entrypoint: []string{"/usr/local/bin/chaos-controller-manager"}},
	// chaos-daemon runs iptables, ipset, tc and nsenter (through the nsexec
	// adapter, a /bin/sh script) inside pods' namespaces; they come from this
	// host (Debian) with their libraries.
	{file: "chaos-daemon", names: []string{"ghcr.io/chaos-mesh/chaos-daemon:v2.8.4"},
		bins: map[string]string{"chaos-daemon": "/usr/local/bin/chaos-daemon", "nsexec": "/usr/local/bin/nsexec"},
		hostFiles: []string{"/bin/sh", "/usr/bin/nsenter", "/usr/bin/choom",
			"/usr/sbin/iptables", "/usr/sbin/iptables-save", "/usr/sbin/iptables-restore",
			"/usr/sbin/ip6tables", "/usr/sbin/ip6tables-save", "/usr/sbin/ip6tables-restore",
			"/usr/sbin/ipset", "/usr/sbin/tc", "/usr/sbin/ip",
			"/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/x86_64-linux-gnu/tc"},
		entrypoint: []string{"/usr/local/bin/chaos-daemon"},
		env:        []string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
}

func main() {
	bin := flag.String("bin", "", "directory with the static binaries")
	out := flag.String("out", "", "directory for the archives")
	only := flag.String("only", "", "comma-separated archive names to build (default all)")
	flag.Parse()
	if *bin == "" || *out == "" {
		log.Fatal("usage: images -bin DIR -out DIR [-only NAME,…]")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	for _, im := range images {
		if len(want) > 0 && !want[im.file] {
			continue
		}
		dst := filepath.Join(*out, im.file+".tar")
		if err := build(im, *bin, dst); err != nil {
			log.Fatalf("%s: %v", im.file, err)
		}
		fmt.Printf("%s\t%s\n", dst, strings.Join(im.names, " "))
	}
}

// entry is one file of a layer.
type entry struct {
	mode int64
	data []byte
	link string // symlink target when set
}

func build(im image, bin, dst string) error {
	files := map[string]entry{}
	libs := map[string]bool{}
	for src, at := range im.bins {
		b, err := os.ReadFile(filepath.Join(bin, src))
		if err != nil {
			return err
		}
		files[at] = entry{mode: 0o755, data: b}
		// A dynamically linked binary (cgo) brings its shared libraries
		// from this host (glibc): cheaper than a static rebuild under
		// other build flags, which would share nothing with the build cache.
		lddLibs(filepath.Join(bin, src), libs)
	}
	if err := addHostFiles(files, im.hostFiles, libs); err != nil {
		return err
	}
	layerTar, err := tarOf(files)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User = im.entrypoint, im.cmd, im.user
	cf.Config.Env = im.env
	if len(cf.Config.Env) == 0 {
		cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "node-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, name := range im.names {
		tag := name[strings.LastIndex(name, ":")+1:]
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"io.containerd.image.name":          name,
			"org.opencontainers.image.ref.name": tag,
		})); err != nil {
			return err
		}
	}
	return tarDir(dir, dst)
}

var lddPath = regexp.MustCompile(`(/[^ ]+) \(0x`)

// lddLibs adds the shared libraries ldd lists for a file (none for a static
// binary or a script).
func lddLibs(name string, libs map[string]bool) {
	if out, err := exec.Command("ldd", name).Output(); err == nil {
		for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
			libs[m[1]] = true
		}
	}
}

// addHostFiles copies host files (symlinks resolved to their content under
// the name asked for) and directories, with the shared libraries ldd names.
func addHostFiles(files map[string]entry, paths []string, libs map[string]bool) error {
	add := func(name string) error {
		st, err := os.Stat(name)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		files[name] = entry{mode: int64(st.Mode().Perm()), data: b}
		lddLibs(name, libs)
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			return add(q)
		})
		if err != nil {
			return err
		}
	}
	for lib := range libs {
		if _, ok := files[lib]; ok {
			continue
		}
		if err := add(lib); err != nil {
			return err
		}
	}
	// The dynamic loader is looked up at /lib64; Debian's /lib64 is a
	// directory on the host, /lib is a symlink to usr/lib (merged /usr).
	for _, l := range []string{"lib", "lib64", "sbin", "bin"} {
		if t, err := os.Readlink("/" + l); err == nil {
			for name, e := range files {
				if strings.HasPrefix(name, "/"+l+"/") {
					delete(files, name)
					files["/"+t+strings.TrimPrefix(name, "/"+l)] = e
					files["/"+l] = entry{link: t}
				}
			}
		}
	}
	return nil
}

// tarOf writes a layer: parent directories first, entries sorted, fixed
// times, root-owned.
func tarOf(files map[string]entry) ([]byte, error) {
	dirs := map[string]bool{}
	for name := range files {
		for d := path.Dir(name); d != "/" && d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		if _, ok := files[d]; !ok {
			names = append(names, d+"/")
		}
	}
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		rel := strings.TrimPrefix(n, "/")
		if strings.HasSuffix(n, "/") {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel, Mode: 0o755}); err != nil {
				return nil, err
			}
			continue
		}
		e := files[n]
		if e.link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: rel, Linkname: e.link, Mode: 0o777}); err != nil {
				return nil, err
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: e.mode, Size: int64(len(e.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir writes the OCI layout in dir as an uncompressed tar at dst.
func tarDir(dir, dst string) error {
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755})
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: st.Size()}); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

package cut

import (
	"os"
	"path/filepath"
	"testing"
)

// TestImageReuse: a run that cuts the same files finds its image by the
// files' identity, without hashing them; any change to a file (even one
// that keeps its size and modification time), to /init or to the manifest
// hashes again and gives the image of the new content.
func TestImageReuse(t *testing.T) {
	old := racyWindow
	racyWindow = 0
	t.Cleanup(func() { racyWindow = old })

	dir := t.TempDir()
	init := filepath.Join(dir, "init")
	b, err := os.ReadFile(staticInit(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(init, b, 0o755)
	m := reproManifest(t, dir, false)
	cache := filepath.Join(t.TempDir(), "images")
	cutOnce := func(what string) string {
		t.Helper()
		p, err := Resolve(Options{Manifest: m, Init: init})
		if err != nil {
			t.Fatal(err)
		}
		path, sum, err := p.Image.WriteCached(cache)
		if err != nil {
			t.Fatal(err)
		}
		// What the image would be named by its content, read afresh.
		if want, _ := p.Image.Digest(true); sum != want || filepath.Base(path) != want+".cpio" {
			t.Errorf("%s: image %s; want the digest of the content %s", what, sum, want)
		}
		_, hit, _ := p.Image.cachedDigest(cache)
		if hit != true {
			t.Errorf("%s: the identity just written is not remembered", what)
		}
		return sum
	}
	first := cutOnce("first cut")
	p, _ := Resolve(Options{Manifest: m, Init: init})
	if sum, hit, err := p.Image.cachedDigest(cache); !hit || sum != first || err != nil {
		t.Fatalf("same files: hit %t, %s, %v; want a hit on %s", hit, sum, err, first)
	}

	// A file's content changed, its size and modification time kept (a
	// tool that restores times): the change time still tells.
	a := filepath.Join(dir, "a.txt")
	fi, _ := os.Stat(a)
	os.WriteFile(a, []byte("z\n"), 0o644)
	os.Chtimes(a, fi.ModTime(), fi.ModTime())
	changedFile := cutOnce("changed file")
	if changedFile == first {
		t.Error("a changed file kept the image")
	}

	// Another /init (git rapido rebuilt): a new image.
	os.WriteFile(init, append(b, 0), 0o755)
	changedInit := cutOnce("changed init")
	if changedInit == changedFile {
		t.Error("a changed /init kept the image")
	}

	// The manifest names one more file.
	f, _ := os.OpenFile(m, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("file b.txt /etc/c.txt\n")
	f.Close()
	if cutOnce("changed manifest") == changedInit {
		t.Error("a changed manifest kept the image")
	}

	// A memo naming an image no longer in the cache is no hit.
	p, _ = Resolve(Options{Manifest: m, Init: init})
	sum, _, _ := p.Image.cachedDigest(cache)
	os.Remove(filepath.Join(cache, sum+".cpio"))
	if _, hit, _ := p.Image.cachedDigest(cache); hit {
		t.Error("a memo of a removed image was a hit")
	}
}

// TestImageReuseRacy: a file changed just now is not trusted by its stat
// (a second write in the same timestamp tick would not show): its image
// is hashed on every run until the file is older than racyWindow.
func TestImageReuseRacy(t *testing.T) {
	dir := t.TempDir()
	m := reproManifest(t, dir, false)
	cache := filepath.Join(t.TempDir(), "images")
	p, err := Resolve(Options{Manifest: m, Init: staticInit(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, _, err := p.Image.WriteCached(cache); err != nil {
			t.Fatal(err)
		}
		if _, hit, _ := p.Image.cachedDigest(cache); hit {
			t.Fatalf("run %d: a hit on files written just now", i+1)
		}
	}
	ids, _ := filepath.Glob(filepath.Join(cache, "*.id"))
	if len(ids) != 0 {
		t.Errorf("memos %v remembered for files changed just now", ids)
	}
}

package cut

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// WriteKey names /init by the guest protocol version, hashes what the
// cut's author chose, and leaves out what bin copies from the host.
func TestWriteKey(t *testing.T) {
	init := staticInit(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"m.cut":    "bin " + init + "\nfile data.txt /etc/data.txt\ndir /srv\n",
		"data.txt": "data\n",
	})
	p, err := Prepare(Options{Manifest: filepath.Join(dir, "m.cut"), Init: init, Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := p.WriteKey(&b); err != nil {
		t.Fatal(err)
	}
	key := b.String()
	for _, want := range []string{
		fmt.Sprintf("guest-protocol %d\n", guest.ProtocolVersion),
		"manifest file ",
		" /etc/data.txt ",
		" /srv ",
		`"command":["true"]`,
	} {
		if !strings.Contains(key, want) {
			t.Errorf("key text lacks %q:\n%s", want, key)
		}
	}
	for _, not := range []string{" /init ", " " + init + " ", dir} {
		if strings.Contains(key, not) {
			t.Errorf("key text holds %q (host bytes or a local path):\n%s", not, key)
		}
	}
	// The prepared plan is not changed by completing it.
	if _, err := p.WithModules("", ""); err != nil {
		t.Fatal(err)
	}
	var again strings.Builder
	p.WriteKey(&again)
	if again.String() != key {
		t.Error("WithModules changed the prepared plan")
	}
	if _, ok := p.Image.Lookup(guest.SpecPath); ok {
		t.Error("the prepared plan has a guest spec before WithModules")
	}
}

package cut

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// WriteKey writes what of the cut decides a verdict, for the verdict
// cache's key, from a plan Prepare made:
//
//   - the text of every manifest read (includes too), in order: it names
//     the programs, modules, host directives and VM count the cut wants;
//   - the content, mode and guest path of every file the cut's author
//     chose (file, tree, autorun, --script) and the symlinks and
//     directories they make;
//   - the test (command, timeout, environment, autorun order, shell) as
//     the guest will read it;
//   - the guest protocol version, standing for /init.
//
// It leaves out the bytes of what the image copies from the host — the
// programs bin finds, their libraries, git-rapido as /init — and where
// they were found: they are the same tools on every teammate's machine in
// another build or another distribution's layout, and a key that held
// them would change with every rebuild of git-rapido.
func (p *Plan) WriteKey(w io.Writer) error {
	fmt.Fprintf(w, "guest-protocol %d\n", guest.ProtocolVersion)
	for i, src := range p.Sources {
		name := "file"
		if b, ok := strings.CutPrefix(src, "builtin:"); ok {
			name = "builtin:" + b
		}
		fmt.Fprintf(w, "manifest %s %x\n", name, sha256.Sum256(p.texts[i]))
	}
	// The entries as the manifest named them: sorted() would move them
	// below the host's symlinks (merged /usr) and add parents.
	paths := make([]string, 0, len(p.Image.entries))
	for k := range p.Image.entries {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, k := range paths {
		e := p.Image.entries[k]
		if e.Host || e.Module || e.Path == guest.SpecPath {
			continue
		}
		b, err := e.content()
		if err != nil {
			return fmt.Errorf("hash %s: %w", e.Path, err)
		}
		fmt.Fprintf(w, "entry %d %o %s %x\n", e.Kind, e.Mode, e.Path, sha256.Sum256(b))
	}
	spec, err := json.Marshal(p.Spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "guest-spec %s\n", spec)
	return nil
}

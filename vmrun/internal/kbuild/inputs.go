package kbuild

import (
	"bytes"
	"encoding/gob"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Inputs are the files a finished build read, as kbuild recorded them:
// the source_ and deps_ lists of every .*.cmd file (fixdep's output for
// each object, host program and preprocessed file, tools/objtool's too)
// and the gcc dependency files (.*.d) kbuild keeps as they are.
type Inputs struct {
	// Source are paths inside the source tree, relative to its top.
	Source []string
	// External are absolute paths outside both the source tree and the
	// build directory (a header of the host, a file in an include path
	// given in KCFLAGS).
	External []string
	// Records counts the files the lists came from; a build directory
	// without any has no records to trust.
	Records int
	// Modules are the build's .ko files (absolute): outputs whose change
	// by hand (a make run outside git rapido) must be noticed.
	Modules []string
}

// ScanInputs reads the dependency records of the build in buildDir of the
// tree in srcDir. Paths inside the build directory are the build's own
// outputs (include/generated, include/config/*) and are left out: what
// decides them is the configuration and the source tree, which are
// checked on their own. A $(wildcard X) entry counts as an input (kbuild
// lists headers whose absence matters that way).
func ScanInputs(srcDir, buildDir string) (*Inputs, error) {
	in, _, err := scanInputs(srcDir, buildDir, nil)
	return in, err
}

// inputsCache is what the last scan of a build directory read: the size
// and time of every record it parsed and the paths they named. A record
// whose stamp is unchanged is not parsed again; its paths stay in the
// union, which may keep a path no record names any more — more inputs,
// never fewer, so a skip is only ever less likely, never wrong.
type inputsCache struct {
	Version  int
	Key      string // the build's reuse key and both roots: else it is void
	Records  map[string][2]int64
	Source   []string
	External []string
}

const (
	inputsCacheName    = ".rapido-inputs"
	inputsCacheVersion = 1
)

func inputsCacheKey(srcDir, buildDir, key string) string {
	return strings.Join(append(append([]string{key}, roots(srcDir)...), roots(buildDir)...), "\x00")
}

func loadInputsCache(buildDir, key string) *inputsCache {
	f, err := os.Open(filepath.Join(buildDir, inputsCacheName))
	if err != nil {
		return nil
	}
	defer f.Close()
	var c inputsCache
	if gob.NewDecoder(f).Decode(&c) != nil || c.Version != inputsCacheVersion || c.Key != key || c.Records == nil {
		return nil
	}
	return &c
}

func saveInputsCache(buildDir string, c *inputsCache) error {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(c); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(buildDir, inputsCacheName), b.Bytes())
}

// scanInputs is ScanInputs parsing only the records that changed since
// prev (all of them without prev), and the cache of this scan.
func scanInputs(srcDir, buildDir string, prev *inputsCache) (*Inputs, *inputsCache, error) {
	next := &inputsCache{Version: inputsCacheVersion, Records: map[string][2]int64{}}
	src := roots(srcDir)
	build := roots(buildDir)
	inSet, exSet := map[string]bool{}, map[string]bool{}
	in := &Inputs{}
	var bases []string // where a relative path of the current record starts
	// Most entries repeat (every object reads include/linux/kernel.h):
	// each is mapped once per set of bases.
	seenBy := map[string]map[string]bool{}
	var seen map[string]bool
	add := func(tok string) {
		tok = strings.TrimSpace(tok)
		if seen[tok] {
			return
		}
		seen[tok] = true
		if strings.HasPrefix(tok, "$(wildcard ") {
			tok = strings.TrimSuffix(strings.TrimPrefix(tok, "$(wildcard "), ")")
		}
		if tok == "" || strings.HasPrefix(tok, "$(") || strings.HasSuffix(tok, ":") {
			return
		}
		cands := []string{tok}
		if !filepath.IsAbs(tok) {
			cands = cands[:0]
			for _, b := range bases {
				cands = append(cands, filepath.Join(b, tok))
			}
			// Of several places a relative path may start, every one
			// where the file exists counts; the first when none does.
			var found []string
			for _, c := range cands {
				if _, err := os.Stat(c); err == nil {
					found = append(found, c)
				}
			}
			if len(found) > 0 {
				cands = found
			} else {
				cands = cands[:1]
			}
		}
		for _, p := range cands {
			p = filepath.Clean(p)
			if under(p, build) != "" {
				continue
			}
			if rel := under(p, src); rel != "" {
				inSet[rel] = true
				continue
			}
			exSet[p] = true
		}
	}
	err := filepath.WalkDir(buildDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a directory that vanished: its records are gone
		}
		if d.IsDir() {
			// Module installs and the source link hold no records.
			if path != buildDir && (d.Name() == "rapido-modules" || d.Name() == "source") {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".ko") && d.Type().IsRegular() {
			in.Modules = append(in.Modules, path)
			return nil
		}
		if !strings.HasPrefix(name, ".") || !d.Type().IsRegular() {
			return nil
		}
		isCmd, isDep := strings.HasSuffix(name, ".cmd"), strings.HasSuffix(name, ".d")
		if !isCmd && !isDep {
			return nil
		}
		bases = recordBases(srcDir, buildDir, path)
		// A record read from one place only names the same paths as long
		// as it is the same file; one whose relative paths may start in
		// several places depends on which files exist: parsed every time.
		if len(bases) == 1 {
			if info, err := d.Info(); err == nil {
				st := [2]int64{info.Size(), info.ModTime().UnixNano()}
				rel := path[len(buildDir):]
				next.Records[rel] = st
				if old, ok := prev.record(rel); ok && old == st {
					in.Records++
					return nil
				}
			}
		}
		k := strings.Join(bases, "\x00")
		if seen = seenBy[k]; seen == nil {
			seen = map[string]bool{}
			seenBy[k] = seen
		}
		switch {
		case isCmd:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			in.Records++
			parseCmd(b, add)
		case isDep:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			in.Records++
			parseDepfile(b, add)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if prev != nil {
		for _, p := range prev.Source {
			inSet[p] = true
		}
		for _, p := range prev.External {
			exSet[p] = true
		}
	}
	for p := range inSet {
		in.Source = append(in.Source, p)
	}
	for p := range exSet {
		in.External = append(in.External, p)
	}
	sort.Strings(in.Source)
	sort.Strings(in.External)
	next.Source, next.External = in.Source, in.External
	return in, next, nil
}

// record is the stamp prev holds for the record rel (none without prev).
func (c *inputsCache) record(rel string) ([2]int64, bool) {
	if c == nil {
		return [2]int64{}, false
	}
	st, ok := c.Records[rel]
	return st, ok
}

// recordBases are the directories a relative path in the record file
// rec may start from. Kbuild runs in the build directory (O=); the tools
// it builds on the way (tools/objtool...) run make in their source
// directory, which the record's place under build/tools/ names only up
// to how deep the tool lies: every candidate is kept.
func recordBases(srcDir, buildDir, rec string) []string {
	bases := []string{buildDir}
	rel, err := filepath.Rel(buildDir, filepath.Dir(rec))
	if err != nil || (rel != "tools" && !strings.HasPrefix(rel, "tools/")) {
		return bases
	}
	for d := rel; d != "." && d != "/"; d = filepath.Dir(d) {
		bases = append(bases, filepath.Join(srcDir, d))
	}
	return bases
}

// parseCmd reads a .*.cmd file: "source_X := path" lines and the
// "deps_X := \" blocks (one path per continued line).
func parseCmd(b []byte, add func(string)) {
	inDeps := false
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if inDeps {
			inDeps = bytes.HasSuffix(line, []byte("\\"))
			add(string(bytes.TrimSuffix(line, []byte("\\"))))
			continue
		}
		// Only the source_ and deps_ lines matter; the long cmd_ lines
		// are not even made strings.
		isSource := bytes.HasPrefix(line, []byte("source_"))
		if !isSource && !bytes.HasPrefix(line, []byte("deps_")) {
			continue
		}
		i := bytes.Index(line, []byte(":="))
		if i < 0 {
			continue
		}
		val := strings.TrimSpace(string(line[i+2:]))
		if isSource {
			add(val)
			continue
		}
		inDeps = strings.HasSuffix(val, "\\")
		for _, f := range fieldsKeepingWildcards(strings.TrimSuffix(val, "\\")) {
			add(f)
		}
	}
}

// parseDepfile reads a make dependency file as gcc -MD writes it:
// "target: dep dep \" with continued lines.
func parseDepfile(b []byte, add func(string)) {
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		_, deps, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(deps) {
			add(f)
		}
	}
}

// fieldsKeepingWildcards splits on blanks but keeps "$(wildcard x)" whole.
func fieldsKeepingWildcards(s string) []string {
	var out []string
	for _, f := range strings.Fields(strings.ReplaceAll(s, "$(wildcard ", "$(wildcard\x00")) {
		out = append(out, strings.ReplaceAll(f, "\x00", " "))
	}
	return out
}

// roots are the spellings of a directory a record may use: as given and
// with its symbolic links resolved.
func roots(dir string) []string {
	abs, _ := filepath.Abs(dir)
	out := []string{filepath.Clean(abs)}
	if r, err := filepath.EvalSymlinks(abs); err == nil && r != out[0] {
		out = append(out, r)
	}
	return out
}

// under returns p relative to the first of roots it lies inside, or "".
func under(p string, roots []string) string {
	for _, r := range roots {
		if strings.HasPrefix(p, r+"/") {
			return p[len(r)+1:]
		}
	}
	return ""
}

package kbuild

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Compiler warnings are counted per build and compared with what the build
// directory has seen, as ktest compares against its list of known warnings:
// a commit "adds" a warning when the build emits one that the directory's
// record does not hold. kbuild only recompiles what changed, so the record
// is updated file by file: a source file that was compiled again replaces
// its warnings with this build's, a file that was not keeps its old ones.
// The first build of a directory only records the baseline (nothing is
// new), so the first commit of a series is not blamed for its base's
// warnings. Line and column numbers are left out of the comparison: an edit
// above a known warning moves it without adding one.

const warningsFile = ".rapido-warnings"

// warningRe matches gcc's and clang's "file:line[:col]: warning: text".
var warningRe = regexp.MustCompile(`^([^\s:]+):\d+(?::\d+)?: warning: (.+)$`)

// warningRecord maps a source file to its warnings, without positions.
type warningRecord map[string][]string

// parseWarning returns the file and the position-free text of a warning line.
func parseWarning(l string) (file, text string, ok bool) {
	m := warningRe.FindStringSubmatch(strings.TrimSpace(l))
	if m == nil {
		return "", "", false
	}
	return filepath.Clean(m[1]), m[2], true
}

// sourceOf is the source a quiet "CC kernel/fork.o" line compiles.
func sourceOf(object string) string {
	for _, ext := range []string{".o", ".s", ".i", ".lst"} {
		if s, ok := strings.CutSuffix(object, ext); ok {
			return s + ".c"
		}
	}
	return object
}

// warningTally gathers one build's warnings and the sources it compiled.
type warningTally struct {
	emitted  []string // raw warning lines, in order, for the report
	byFile   map[string][]string
	compiled map[string]bool
}

func newWarningTally() *warningTally {
	return &warningTally{byFile: map[string][]string{}, compiled: map[string]bool{}}
}

// line takes one line of make's output.
func (t *warningTally) line(l string) {
	if m := quietLine.FindStringSubmatch(l); m != nil && (m[1] == "CC" || m[1] == "CC [M]" || m[1] == "AS") {
		t.compiled[sourceOf(m[2])] = true
		return
	}
	if f, text, ok := parseWarning(l); ok {
		t.emitted = append(t.emitted, strings.TrimSpace(l))
		t.byFile[f] = append(t.byFile[f], text)
	}
}

// merge folds this build into the record and returns the warning lines the
// record did not hold. With no record yet (a first build), nothing is new.
func (t *warningTally) merge(rec warningRecord, haveRecord bool) (warningRecord, []string) {
	next := warningRecord{}
	for f, ws := range rec {
		if !t.compiled[f] {
			next[f] = ws
		}
	}
	for f, ws := range t.byFile {
		if t.compiled[f] {
			next[f] = append([]string(nil), ws...)
		} else {
			// A header's warnings, reported through a compiled source:
			// the header's record is what this build saw of it.
			next[f] = uniqueSorted(append(append([]string(nil), next[f]...), ws...))
		}
	}
	for f, ws := range next {
		next[f] = uniqueSorted(ws)
	}
	if !haveRecord {
		return next, nil
	}
	known := map[string]bool{}
	for f, ws := range rec {
		for _, w := range ws {
			known[f+"\x00"+w] = true
		}
	}
	var added []string
	seen := map[string]bool{}
	for _, l := range t.emitted {
		f, text, _ := parseWarning(l)
		k := f + "\x00" + text
		if !known[k] && !seen[k] {
			seen[k] = true
			added = append(added, l)
		}
	}
	return next, added
}

func uniqueSorted(ws []string) []string {
	sort.Strings(ws)
	out := ws[:0]
	for i, w := range ws {
		if i == 0 || w != ws[i-1] {
			out = append(out, w)
		}
	}
	return out
}

// loadWarnings reads a build directory's record; ok is false when there is
// none (a first build) or it cannot be read (then the baseline starts over).
func loadWarnings(buildDir string) (warningRecord, bool) {
	b, err := os.ReadFile(filepath.Join(buildDir, warningsFile))
	if err != nil {
		return warningRecord{}, false
	}
	var rec warningRecord
	if json.Unmarshal(b, &rec) != nil || rec == nil {
		return warningRecord{}, false
	}
	return rec, true
}

// saveWarnings replaces the record atomically.
func saveWarnings(buildDir string, rec warningRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(buildDir, warningsFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(buildDir, warningsFile))
}

package attest

import (
	"strings"
)

// With rapido.attest=notes the message carries only the plain verdict
// trailer and the attestation lives in a git note (refs/notes/rapido-attest)
// on the commit's patch-id, so that it follows the patch through rebases.
// A note holds one entry per line: the compact value, one space, and the
// trailer it vouches for ("<value> Tested-by: T Ester <t@example.org>").
// The trailer is named because a patch-id is shared by every copy of the
// patch, and each copy carries its own verdicts.

// NotesRef is the notes ref of attestations kept outside the message.
const NotesRef = "refs/notes/rapido-attest"

// NoteEntry is one attestation of a note.
type NoteEntry struct {
	Value   string // compact attestation value
	Trailer string // "Key: value" of the verdict it vouches for
}

// Line is the entry as a note line (without the newline).
func (e NoteEntry) Line() string { return e.Value + " " + e.Trailer }

// ParseNote reads a note's entries; lines that are not entries (blank
// lines git notes append puts between paragraphs, anything else) are
// skipped.
func ParseNote(text string) []NoteEntry {
	var es []NoteEntry
	for _, l := range strings.Split(text, "\n") {
		v, tr, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok || !IsCompact(v) || !strings.Contains(tr, ": ") || len(v) > MaxValue {
			continue
		}
		es = append(es, NoteEntry{Value: v, Trailer: tr})
	}
	return es
}

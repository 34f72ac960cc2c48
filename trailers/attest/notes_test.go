package attest

import (
	"testing"

	"github.com/git-rapido/git-rapido/trailers"
)

func TestNotesEntries(t *testing.T) {
	s, e, kr := keys(t)
	p := payload()
	v, err := s.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := trailers.Add([]byte("subsys: fix\n\nSigned-off-by: A U Thor <author@example.com>\n"), nil, p.TrailerKey, p.TrailerValue, nil)
	note := "\n" + NoteEntry{Value: v, Trailer: p.Trailer()}.Line() + "\n\n"
	es := ParseNote(note)
	if len(es) != 1 || es[0].Value != v || es[0].Trailer != p.Trailer() {
		t.Fatalf("parsed %+v", es)
	}
	verifier := &Verifier{Keys: kr}
	// Without the note the verdict is unsigned; with it, ok.
	one(t, verifier.Check(msg, tree1), Unsigned, "")
	rs := verifier.CheckWithNotes(msg, tree1, es)
	if len(rs) != 1 {
		t.Fatalf("%+v", rs)
	}
	one(t, rs, OK, "")
	// Rebased: another tree, the same patch.
	rs = verifier.CheckWithNotes(msg, tree2, es)
	Resolve(&rs[0], patch1)
	one(t, rs, Rebased, "")

	// An entry for a verdict this copy of the patch does not carry is not
	// about this commit.
	other := *p
	other.TrailerValue = "O Ther <other@example.org>"
	ov, _ := s.Sign(&other)
	rs = verifier.CheckWithNotes(msg, tree1, append(es, NoteEntry{Value: ov, Trailer: other.Trailer()}))
	if len(rs) != 1 || rs[0].Status != OK {
		t.Fatalf("%+v", rs)
	}
	// A forged entry for the trailer it carries is shown.
	rs = verifier.CheckWithNotes(msg, tree1, append(es, NoteEntry{Value: forge(t, s, p), Trailer: p.Trailer()}))
	if len(rs) != 2 || rs[0].Status != OK || rs[1].Status != BadSignature || rs[1].Trailer != p.Trailer() {
		t.Fatalf("%+v", rs)
	}
	// An entry that names the trailer but is signed for another one.
	rs = verifier.CheckWithNotes(msg, tree1, []NoteEntry{{Value: ov, Trailer: p.Trailer()}})
	one(t, rs, BadSignature, "")
	// An untrusted key.
	ev, _ := e.Sign(payload())
	one(t, verifier.CheckWithNotes(msg, tree1, []NoteEntry{{Value: ev, Trailer: p.Trailer()}}), UnknownKey, "")
	// Export rebuilds the signed bytes with the named trailer.
	ex, err := verifier.ExportWithNotes(msg, es)
	if err != nil || len(ex) != 1 {
		t.Fatalf("export: %v %d", err, len(ex))
	}
}

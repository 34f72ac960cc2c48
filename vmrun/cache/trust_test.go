package cache

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const tree = "1111111111111111111111111111111111111111"

// fakeKeys trusts signatures that read "good-by:<name>".
type fakeKeys struct{}

func (fakeKeys) VerifyEntry(payload []byte, sig string) (string, error) {
	name, ok := strings.CutPrefix(sig, "good-by:")
	if !ok {
		return "", errors.New("signed by a key that is not trusted")
	}
	// A signature covers the payload: pretend the name is bound to it
	// by refusing payloads that were not "signed" (see sign below).
	if !strings.Contains(string(payload), `"tree":"`+tree+`"`) {
		return "", errors.New("signature does not verify")
	}
	return name, nil
}

var me = NewLocal("me@example.org", "m1", "v1", []byte("0123456789abcdef0123456789abcdef"))

func mine(spec, status string, at int) Entry {
	e := Entry{Spec: spec, Tree: tree, Status: status, Time: time.Unix(int64(1700000000+at), 0).UTC()}
	me.Stamp(&e)
	return e
}

func teammate(spec, status, sig string, at int) Entry {
	return Entry{Spec: spec, Tree: tree, Status: status, Time: time.Unix(int64(1700000000+at), 0).UTC(),
		Provenance: Provenance{By: "bob@example.org", Machine: "m2", Sig: sig}}
}

func TestJudge(t *testing.T) {
	p := Policy{Local: me, Keys: fakeKeys{}}
	forged := teammate("s", "pass", "", 5)
	forged.By, forged.Machine, forged.Seal = me.By, me.Machine, strings.Repeat("0", 64)
	otherTree := mine("s", "pass", 1)
	otherTree.Tree = "2222222222222222222222222222222222222222"
	me.Stamp(&otherTree)
	repeated := mine("s", "fail", 1)
	repeated.Runs, repeated.Passed = 3, 2
	me.Stamp(&repeated)
	for _, tc := range []struct {
		name string
		es   []Entry
		want Outcome
		from string // who the Hit's entry is by
	}{
		{"empty", nil, Miss, ""},
		{"other spec only", []Entry{mine("t", "pass", 1)}, Miss, ""},
		{"own", []Entry{mine("s", "pass", 1)}, Hit, "me@example.org"},
		{"unsigned teammate", []Entry{teammate("s", "pass", "", 1)}, OnlyUntrusts, ""},
		{"untrusted key", []Entry{teammate("s", "pass", "bad", 1)}, OnlyUntrusts, ""},
		{"trusted key", []Entry{teammate("s", "pass", "good-by:Bob", 1)}, Hit, "bob@example.org"},
		{"forged own seal", []Entry{forged}, OnlyUntrusts, ""},
		{"copied from another tree", []Entry{otherTree}, OnlyUntrusts, ""},
		{"legacy entry", []Entry{{Spec: "s", Status: "pass"}}, OnlyUntrusts, ""},
		{"untrusted pass beside own fail", []Entry{teammate("s", "pass", "", 9), mine("s", "fail", 1)}, Hit, "me@example.org"},
		{"trusted disagree", []Entry{mine("s", "pass", 1), teammate("s", "fail", "good-by:Bob", 2)}, Flaky, ""},
		{"trusted disagree, other order", []Entry{teammate("s", "fail", "good-by:Bob", 2), mine("s", "pass", 1)}, Flaky, ""},
		{"repeated 2 of 3", []Entry{repeated}, Flaky, ""},
		{"trusted agree", []Entry{mine("s", "pass", 1), teammate("s", "pass", "good-by:Bob", 2)}, Hit, "bob@example.org"},
	} {
		d := Judge(tree, "s", tc.es, p)
		if d.Outcome != tc.want {
			t.Errorf("%s: outcome %s, want %s", tc.name, d.Outcome, tc.want)
			continue
		}
		if tc.from != "" && (d.Entry == nil || d.Entry.By != tc.from) {
			t.Errorf("%s: hit answered by %+v, want an entry by %s", tc.name, d.Entry, tc.from)
		}
	}
}

// A seal binds the whole entry: changing the verdict after sealing makes
// it no longer our own.
func TestSealCoversVerdict(t *testing.T) {
	e := mine("s", "fail", 1)
	if !me.Owns(e) {
		t.Fatal("a freshly stamped entry is not our own")
	}
	e.Status = "pass"
	if me.Owns(e) {
		t.Error("an entry whose status changed after sealing is still our own")
	}
	other := NewLocal("me@example.org", "m1", "v1", []byte("another secret, another home....."))
	if other.Owns(mine("s", "pass", 1)) {
		t.Error("an entry sealed with another secret counts as our own")
	}
}

func TestPrunable(t *testing.T) {
	gone := func(string) bool { return false }
	own := mine("s", "pass", 1)
	own.LogDir = "/nowhere"
	bob := teammate("s", "pass", "", 1)
	bob.LogDir = "/nowhere"
	legacy := Entry{Spec: "s", LogDir: "/nowhere"}
	if !Prunable(me, own, gone) {
		t.Error("my entry with its logs gone is not prunable")
	}
	if Prunable(me, own, func(string) bool { return true }) {
		t.Error("my entry whose logs exist is prunable")
	}
	if Prunable(me, bob, gone) || Prunable(me, legacy, gone) {
		t.Error("someone else's entry (or one that names nobody) is prunable")
	}
}

func TestSummarize(t *testing.T) {
	p := Policy{Local: me, Keys: fakeKeys{}}
	fresh := mine("s", "fail", 1)
	fresh.Commit = "c1"
	me.Stamp(&fresh)
	for _, tc := range []struct {
		name           string
		es             []Entry
		verdict, where string
	}{
		{"untrusted only", []Entry{teammate("s", "pass", "", 1)}, "untrusted", ""},
		{"latest trusted", []Entry{mine("t", "fail", 1), mine("s", "pass", 2)}, "pass", "cached"},
		{"this very commit first", []Entry{fresh, mine("t", "pass", 2)}, "fail", "fresh"},
		{"untrusted pass never shown", []Entry{mine("s", "fail", 1), teammate("s", "pass", "", 2)}, "fail", "cached"},
		{"disagreement", []Entry{mine("s", "fail", 1), teammate("s", "pass", "good-by:Bob", 2)}, "flaky", "cached"},
	} {
		s := Summarize(p.ClassifyAll(tree, tc.es), "c1", "p1")
		if s.Verdict != tc.verdict || s.Source != tc.where {
			t.Errorf("%s: %s (%s), want %s (%s)", tc.name, s.Verdict, s.Source, tc.verdict, tc.where)
		}
	}
}

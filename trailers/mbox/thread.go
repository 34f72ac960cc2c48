package mbox

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The rules below are those b4 (0.12) follows when it collects trailers
// for "b4 am", observed on the fixture threads under testdata (the
// differential test in cmd/git-rapido replays them against b4):
//
//   - a follow-up is any message of the thread that is not a patch; its
//     trailers go to the patch its reply chain leads to, or, for the cover
//     letter, to every patch (b4 am -t);
//   - a trailer is a line "Key: value" with a blank after the colon and no
//     space in the key, indented or not, anywhere in the unquoted text:
//     quoted lines (">")
//     and everything after a signature line ("-- ") are skipped, a "---"
//     is not an end;
//   - only the line itself is taken: continuation lines are not joined;
//   - a value with an address <...@...> names a person, and is taken only
//     when the sender sent it (same address, any case, or the same name);
//   - a message whose Message-Id was seen before is skipped;
//   - Cc: is not collected;
//   - a value without an address is taken for a key with a hyphen
//     (Change-Id) and for Fixes, never for a "-by" key, nor for Link,
//     Closes, Cc and the like;
//   - (not b4) a trailer with a control character — a terminal escape, a
//     bidirectional override — is refused, where b4 would write it into
//     the commit message;
//   - trailers are added in the order of the mbox, a patch's own replies
//     before the cover letter's, each once: one already in the commit
//     message or already added (compared without regard to case and
//     without a "# comment") is skipped.

// Trailer is one trailer found in a reply.
type Trailer struct {
	Key, Value string
	From       *Message // the reply it came from
}

// String is the trailer line as added to a commit message.
func (t Trailer) String() string { return t.Key + ": " + t.Value }

// Patch is one patch of the series.
type Patch struct {
	Msg         *Message
	Number      int    // k of [PATCH k/N]
	Subject     string // the subject without "[PATCH ...]"
	Diff        string // the patch text from its first "diff --git" on
	Trailers    []Trailer
	FromReplies int // how many of Trailers came from its own replies
}

// Series is a patch series with the trailers its thread gives.
type Series struct {
	Cover         *Message // nil when the series has no cover letter
	CoverSubject  string
	Patches       []*Patch
	CoverTrailers []Trailer
	// Mismatched are person trailers not sent by the person named.
	Mismatched []Trailer
	// Unsafe are trailers with control characters (terminal escapes,
	// bidirectional overrides): never written into a commit message.
	Unsafe []Trailer
}

var (
	subjectRe = regexp.MustCompile(`^\s*((?i:re|aw|fwd?):\s*)*\[([^\]]*)\]\s*(.*)$`)
	counterRe = regexp.MustCompile(`^(\d+)/(\d+)$`)
	trailerRe = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_-]*):[ \t]+(\S.*)$`)
	personRe  = regexp.MustCompile(`<([^<>\s]+@[^<>\s]+)>`)
	replyRe   = regexp.MustCompile(`^\s*(?i:re|aw):`)
)

// ErrNoPatches means the thread has no patch mail.
var ErrNoPatches = errors.New("no patch in the thread (no mail with a diff and a [PATCH] subject)")

// Thread finds the series in msgs and the trailers its replies give.
func Thread(msgs []*Message) (*Series, error) {
	// A message seen twice (cross-posted, saved twice) counts once: the
	// first copy.
	byID := map[string]*Message{}
	uniq := msgs[:0:0]
	for _, m := range msgs {
		if _, dup := byID[m.MessageID]; !dup {
			byID[m.MessageID] = m
			uniq = append(uniq, m)
		}
	}
	msgs = uniq
	s := &Series{}
	patchOf := map[string]*Patch{}
	total := -1
	for _, m := range msgs {
		if replyRe.MatchString(m.Subject) {
			continue
		}
		sm := subjectRe.FindStringSubmatch(m.Subject)
		if sm == nil || !strings.Contains(strings.ToUpper(sm[2]), "PATCH") {
			continue
		}
		k, n := 1, 1
		for _, f := range strings.Fields(sm[2]) {
			if c := counterRe.FindStringSubmatch(f); c != nil {
				k, _ = strconv.Atoi(c[1])
				n, _ = strconv.Atoi(c[2])
			}
		}
		if total >= 0 && n != total {
			return nil, fmt.Errorf("the thread holds series of %d and %d patches: save one revision (b4 mbox -v)", total, n)
		}
		total = n
		if k == 0 {
			if s.Cover != nil {
				return nil, errors.New("the thread has two cover letters: save one revision (b4 mbox -v)")
			}
			s.Cover, s.CoverSubject = m, sm[3]
			continue
		}
		i := strings.Index(m.Body, "\ndiff --git ")
		if i < 0 {
			continue
		}
		for _, p := range s.Patches {
			if p.Number == k {
				return nil, fmt.Errorf("the thread has patch %d/%d twice: save one revision (b4 mbox -v)", k, n)
			}
		}
		p := &Patch{Msg: m, Number: k, Subject: sm[3], Diff: m.Body[i+1:]}
		s.Patches = append(s.Patches, p)
		patchOf[m.MessageID] = p
	}
	if len(s.Patches) == 0 {
		return nil, ErrNoPatches
	}
	sortPatches(s.Patches)
	for _, m := range msgs {
		if patchOf[m.MessageID] != nil || m == s.Cover {
			continue
		}
		target, ok := root(m, byID, patchOf, s.Cover)
		if !ok {
			continue
		}
		for _, t := range replyTrailers(m) {
			if hasControl(t.Value) {
				s.Unsafe = append(s.Unsafe, t)
				continue
			}
			if !sentBy(t, m) {
				s.Mismatched = append(s.Mismatched, t)
				continue
			}
			if target == nil {
				s.CoverTrailers = append(s.CoverTrailers, t)
			} else {
				target.Trailers = append(target.Trailers, t)
			}
		}
	}
	for _, p := range s.Patches {
		p.FromReplies = len(p.Trailers)
		p.Trailers = append(p.Trailers, s.CoverTrailers...)
	}
	return s, nil
}

func sortPatches(ps []*Patch) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Number < ps[j-1].Number; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// root follows m's reply chain up to a patch (returned) or the cover
// letter (nil, true); ok is false for a mail that replies to neither.
func root(m *Message, byID map[string]*Message, patchOf map[string]*Patch, cover *Message) (p *Patch, ok bool) {
	seen := map[*Message]bool{}
	for cur := m; cur != nil && !seen[cur]; {
		seen[cur] = true
		parents := []string{}
		if cur.InReplyTo != "" {
			parents = append(parents, cur.InReplyTo)
		}
		for i := len(cur.References) - 1; i >= 0; i-- {
			parents = append(parents, cur.References[i])
		}
		var next *Message
		for _, id := range parents {
			if p := patchOf[id]; p != nil {
				return p, true
			}
			if cover != nil && id == cover.MessageID {
				return nil, true
			}
			if next == nil && byID[id] != nil {
				next = byID[id]
			}
		}
		cur = next
	}
	return nil, false
}

// replyTrailers are the trailer lines of a reply's own text.
func replyTrailers(m *Message) []Trailer {
	if m.HTMLOnly {
		return nil
	}
	var ts []Trailer
	for _, line := range strings.Split(m.Body, "\n") {
		if line == "-- " {
			break
		}
		line = strings.TrimLeft(line, " \t") // an indented trailer counts
		if strings.HasPrefix(line, ">") {
			continue
		}
		sm := trailerRe.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		// git am drops trailing blanks; so does this.
		key, value := sm[1], strings.TrimRight(sm[2], " \t")
		if !personRe.MatchString(value) {
			// Without an address: never a person's trailer
			// ("Tested-by: Bob"), and only keys like Change-Id or
			// Fixes, not Link, Closes or Cc.
			lk := strings.ToLower(key)
			if strings.HasSuffix(lk, "-by") || (!strings.Contains(lk, "-") && lk != "fixes") {
				continue
			}
		}
		if strings.EqualFold(key, "cc") {
			continue // who was copied is not a verdict
		}
		ts = append(ts, Trailer{Key: key, Value: value, From: m})
	}
	return ts
}

// sentBy says whether a person trailer names the sender of m; trailers
// naming nobody (Fixes, Change-Id) pass.
func sentBy(t Trailer, m *Message) bool {
	am := personRe.FindStringSubmatchIndex(t.Value)
	if am == nil {
		return true
	}
	email := t.Value[am[2]:am[3]]
	if strings.EqualFold(email, m.FromEmail) {
		return true
	}
	name := strings.TrimSpace(strings.Trim(strings.TrimSpace(t.Value[:am[0]]), `"`))
	return name != "" && strings.EqualFold(name, strings.TrimSpace(m.FromName))
}

// Identity is how two trailers are told apart when deciding whether one is
// already there: key and value without regard to case, the value without a
// "# comment".
func Identity(key, value string) string {
	if i := strings.Index(value, " #"); i >= 0 {
		value = value[:i]
	}
	return strings.ToLower(key + ":" + strings.TrimSpace(value))
}

// CoverSubjectOr is the cover letter's subject, or the first patch's when
// there is no cover letter.
func (s *Series) CoverSubjectOr() string {
	if s.Cover != nil {
		return s.CoverSubject
	}
	return s.Patches[0].Subject
}

// hasControl reports a control character (C0 but tab, DEL, C1) or a
// Unicode bidirectional control in s.
func hasControl(s string) bool {
	for _, r := range s {
		switch {
		case r == '\t':
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			return true
		case r == '\u061c' || r == '\u200e' || r == '\u200f' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069'):
			return true
		}
	}
	return false
}

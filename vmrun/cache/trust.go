package cache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Trust says why an entry may, or may not, answer a test.
type Trust string

// The trust levels. Only Own and Signed entries answer tests.
const (
	Own       Trust = "own"       // made by this user on this machine (the seal checks)
	Signed    Trust = "signed"    // signed by a trusted key
	Untrusted Trust = "untrusted" // anything else: shown, never used, never re-signed
)

// Verifier checks an entry's signature against the trusted keys and returns
// the signer's identity.
type Verifier interface {
	VerifyEntry(payload []byte, sig string) (signer string, err error)
}

// Signer signs an entry's payload (rapido.signingKey).
type Signer interface {
	SignEntry(payload []byte) (sig string, err error)
}

// Local is this user on this machine: what makes an entry our own.
type Local struct {
	By, Machine, Tool string
	key               []byte // the seal secret
}

// NewLocal is a Local with a given seal secret (LoadLocal reads it from a
// file); with none, no entry is our own.
func NewLocal(by, machine, tool string, key []byte) *Local {
	return &Local{By: by, Machine: machine, Tool: tool, key: key}
}

// LoadLocal reads the seal secret at keyPath, making it on first use (mode
// 0600: whoever can read it can pass entries off as ours), and the machine's
// id.
func LoadLocal(by, tool, keyPath string) (*Local, error) {
	key, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		key, err = makeKey(keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("verdict seal key: %w", err)
	}
	if len(strings.TrimSpace(string(key))) < 32 {
		return nil, fmt.Errorf("verdict seal key: %s: too short; remove it to make a new one", keyPath)
	}
	return &Local{By: by, Machine: MachineID(), Tool: tool, key: []byte(strings.TrimSpace(string(key)))}, nil
}

// makeKey writes a fresh secret next to path and links it into place, so
// two first runs at once agree on one secret.
func makeKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".seal-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(hex.EncodeToString(b) + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	return os.ReadFile(path)
}

// MachineID names this host in entries without disclosing
// /etc/machine-id (which is meant to stay private): a hash of it, or of the
// host name when there is none.
func MachineID() string {
	id := ""
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) != "" {
			id = strings.TrimSpace(string(b))
			break
		}
	}
	if id == "" {
		id, _ = os.Hostname()
	}
	sum := sha256.Sum256([]byte("git-rapido machine\n" + id))
	return hex.EncodeToString(sum[:8])
}

// Stamp fills in e's provenance and seals it as ours.
func (l *Local) Stamp(e *Entry) {
	e.By, e.Machine, e.Tool, e.Seal, e.Sig = l.By, l.Machine, l.Tool, "", ""
	if len(l.key) > 0 {
		e.Seal = l.seal(*e)
	}
}

func (l *Local) seal(e Entry) string {
	m := hmac.New(sha256.New, l.key)
	m.Write(e.Payload())
	return hex.EncodeToString(m.Sum(nil))
}

// Owns reports whether e was made by this user on this machine.
func (l *Local) Owns(e Entry) bool {
	if l == nil || len(l.key) == 0 || e.Seal == "" || e.By != l.By || e.Machine != l.Machine {
		return false
	}
	return hmac.Equal([]byte(e.Seal), []byte(l.seal(e)))
}

// MadeHere reports whether e claims this user and this machine (what
// "cache prune" may remove), sealed or not.
func (l *Local) MadeHere(e Entry) bool {
	return l != nil && e.Machine != "" && e.By == l.By && e.Machine == l.Machine
}

// Policy is what makes an entry trusted: being our own, or a signature by
// one of Keys (nil: no key is trusted).
type Policy struct {
	Local *Local
	Keys  Verifier
}

// Judged is an entry with the trust it earned.
type Judged struct {
	Entry
	Trust  Trust
	Signer string // who signed it, for Signed
	Why    string // why it is not trusted, for Untrusted
}

// Classify judges one entry of tree's note.
func (p Policy) Classify(tree string, e Entry) Judged {
	j := Judged{Entry: e, Trust: Untrusted}
	switch {
	case e.Tree == "" && e.Machine == "":
		j.Why = "no provenance (recorded by an older git rapido)"
	case e.Tree != tree:
		j.Why = fmt.Sprintf("recorded for tree %.12s, not this one", e.Tree)
	case p.Local.Owns(e):
		j.Trust = Own
	case e.Sig == "":
		j.Why = "unsigned, by " + orUnknown(e.By)
	case p.Keys == nil:
		j.Why = "signed, but no key is trusted (rapido.trustedKeys, rapido.keyringRef)"
	default:
		signer, err := p.Keys.VerifyEntry(e.Payload(), e.Sig)
		if err != nil {
			j.Why = err.Error()
		} else {
			j.Trust, j.Signer = Signed, signer
		}
	}
	return j
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown tester"
	}
	return s
}

// ClassifyAll judges every entry of tree's note.
func (p Policy) ClassifyAll(tree string, es []Entry) []Judged {
	js := make([]Judged, len(es))
	for i, e := range es {
		js[i] = p.Classify(tree, e)
	}
	return js
}

// Outcome is what the cache says about one tree and spec.
type Outcome string

// The outcomes. Only Hit answers a test; the others run it.
const (
	Miss         Outcome = "miss"      // no entry for the spec
	Hit          Outcome = "hit"       // trusted entries agree
	Flaky        Outcome = "flaky"     // trusted entries disagree, or a repeated run both passed and failed
	OnlyUntrusts Outcome = "untrusted" // entries exist, none trusted
)

// Decision is the answer for one tree and spec.
type Decision struct {
	Outcome Outcome
	Entry   *Judged // the latest trusted entry (for Hit and Flaky)
	Ignored int     // untrusted entries for the spec
}

// Decide answers a test of spec from judged entries. Trusted entries must
// all agree for a Hit; disagreement is Flaky, never settled by order.
func Decide(js []Judged, spec string) Decision {
	var d Decision
	var trusted []Judged
	for _, j := range js {
		switch {
		case j.Spec != spec:
		case j.Trust == Untrusted:
			d.Ignored++
		default:
			trusted = append(trusted, j)
		}
	}
	if len(trusted) == 0 {
		d.Outcome = Miss
		if d.Ignored > 0 {
			d.Outcome = OnlyUntrusts
		}
		return d
	}
	sort.SliceStable(trusted, func(a, b int) bool { return trusted[a].Time.After(trusted[b].Time) })
	d.Outcome, d.Entry = Hit, &trusted[0]
	for _, j := range trusted {
		if j.Flaky() || j.Status != trusted[0].Status {
			d.Outcome = Flaky
		}
	}
	return d
}

// Judge is Classify and Decide for one tree's entries.
func Judge(tree, spec string, es []Entry, p Policy) Decision {
	return Decide(p.ClassifyAll(tree, es), spec)
}

// Package attest signs and verifies git rapido verdicts. A verdict trailer
// ("Tested-by: Name <email>") is a claim anyone can type; an attestation
// trailer next to it ("Rapido-Attest: ...") carries an OpenPGP signature
// over a canonical payload that says what was vouched for (the trailer, the
// verdict, the tested tree, its patch-id, the test spec digest, the kernel
// release).
//
// Two formats exist. git rapido writes the compact one ("rapido-attest 2",
// compact.go): at most 4 folded lines, carrying only what the commit cannot
// give back. It reads both; the first one ("rapido-attest 1", below) put
// the whole payload, with the time and the signer, in the trailer.
//
// The package is pure: it encodes, parses, signs and classifies, and reads
// keys only from io.Readers. Finding commits, trees and patch-ids is the
// caller's job.
//
// # Payload (format 1)
//
// The payload is UTF-8 text, one field per line, "name SP value LF", in
// exactly this order, each exactly once, nothing before or after:
//
//	rapido-attest 1
//	trailer Tested-by: T Ester <tester@example.org>
//	verdict pass
//	tree 0db01086610e473e9a71f3c58c11ac9a4043c334
//	patch-id 6b5f1d3c0f6e1c1b0ed1c3b3d2b9d5e9a9a1b2c3
//	spec 3f2a...
//	kernel 6.1.0
//	time 2026-11-23T07:55:20Z
//	signer 0123456789ABCDEF0123456789ABCDEF01234567
//
// Values are non-empty, have no leading or trailing blanks and contain no
// control characters; "-" stands for "not applicable" (no patch-id for an
// empty commit, no spec or kernel for a review).
//
// # Trailer (format 1)
//
// The attestation trailer's value is base64(payload) "." base64(signature),
// both in standard base64 with padding, where the signature is a binary
// (type 0x00) OpenPGP detached signature of the payload bytes. It is folded
// to lines of at most 78 columns; a verifier removes every blank (space,
// tab, newline) from the value before decoding, so the value survives
// "git interpret-trailers --unfold".
package attest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Magic is the first line of every payload; its number is the format version.
const Magic = "rapido-attest 1"

// None is the value of a field that does not apply.
const None = "-"

// Payload is what a signature vouches for.
type Payload struct {
	// Format is 1 ("rapido-attest 1", every field in the trailer) or 2
	// (compact: see compact.go).
	Format       int       `json:"format"`
	TrailerKey   string    `json:"trailer_key"`   // "Tested-by"
	TrailerValue string    `json:"trailer_value"` // "T Ester <tester@example.org>"
	Verdict      string    `json:"verdict"`       // "pass", "reviewed", "acked"
	Tree         string    `json:"tree"`          // full tree id of the tested commit
	PatchID      string    `json:"patch_id"`      // git patch-id --stable of the commit against its first parent, or None
	Spec         string    `json:"spec"`          // test spec digest (the verdict cache key), or None
	Kernel       string    `json:"kernel"`        // kernel release, or None
	Time         time.Time `json:"time"`          // format 2: the signature's creation time
	Signer       string    `json:"signer"`        // OpenPGP fingerprint, upper-case hex; format 2: the signature's issuer
}

// Trailer is the vouched-for trailer as "key: value".
func (p *Payload) Trailer() string { return p.TrailerKey + ": " + p.TrailerValue }

var fieldNames = []string{"trailer", "verdict", "tree", "patch-id", "spec", "kernel", "time", "signer"}

// MaxPayload bounds a payload; anything larger is malformed.
const MaxPayload = 4096

func (p *Payload) values() []string {
	return []string{p.Trailer(), p.Verdict, p.Tree, p.PatchID, p.Spec, p.Kernel,
		p.Time.UTC().Format(time.RFC3339), p.Signer}
}

// Encode returns the canonical bytes of p, or an error when a field cannot
// be encoded canonically.
func (p *Payload) Encode() ([]byte, error) {
	if !validKey(p.TrailerKey) {
		return nil, fmt.Errorf("encode payload: bad trailer key %q", p.TrailerKey)
	}
	var b bytes.Buffer
	b.WriteString(Magic + "\n")
	for i, v := range p.values() {
		if err := checkValue(v); err != nil {
			return nil, fmt.Errorf("encode payload: %s: %w", fieldNames[i], err)
		}
		b.WriteString(fieldNames[i] + " " + v + "\n")
	}
	if b.Len() > MaxPayload {
		return nil, errors.New("encode payload: too large")
	}
	return b.Bytes(), nil
}

func checkValue(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	if strings.TrimSpace(v) != v {
		return errors.New("leading or trailing blanks")
	}
	if !utf8.ValidString(v) {
		return errors.New("not UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character %q", r)
		}
	}
	return nil
}

// validKey reports whether k is a trailer key git rapido signs: letters,
// digits and '-', starting with a letter.
func validKey(k string) bool {
	if k == "" || !isLetter(k[0]) {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isLetter(k[i]) && !isDigit(k[i]) && k[i] != '-' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return s != ""
}

// ParsePayload parses canonical payload bytes. Anything that Encode would not
// have produced byte for byte is refused: missing, duplicated, unknown or
// reordered fields, blanks, a non-canonical time.
func ParsePayload(b []byte) (*Payload, error) {
	if len(b) > MaxPayload {
		return nil, errors.New("payload too large")
	}
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		return nil, errors.New("payload does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if lines[0] != Magic {
		return nil, fmt.Errorf("payload does not start with %q", Magic)
	}
	lines = lines[1:]
	seen := map[string]bool{}
	vals := make([]string, 0, len(fieldNames))
	for i, l := range lines {
		name, val, ok := strings.Cut(l, " ")
		if !ok {
			return nil, fmt.Errorf("payload line %d: no value", i+2)
		}
		if seen[name] {
			return nil, fmt.Errorf("payload: duplicated field %q", name)
		}
		seen[name] = true
		if i >= len(fieldNames) {
			return nil, fmt.Errorf("payload: unexpected field %q", name)
		}
		if name != fieldNames[i] {
			known := false
			for _, f := range fieldNames {
				known = known || f == name
			}
			if known {
				return nil, fmt.Errorf("payload: field %q out of order", name)
			}
			return nil, fmt.Errorf("payload: unknown field %q", name)
		}
		if err := checkValue(val); err != nil {
			return nil, fmt.Errorf("payload: %s: %w", name, err)
		}
		vals = append(vals, val)
	}
	if len(vals) < len(fieldNames) {
		return nil, fmt.Errorf("payload: missing field %q", fieldNames[len(vals)])
	}
	p := &Payload{Format: 1, Verdict: vals[1], Tree: vals[2], PatchID: vals[3], Spec: vals[4], Kernel: vals[5], Signer: vals[7]}
	var ok bool
	p.TrailerKey, p.TrailerValue, ok = strings.Cut(vals[0], ": ")
	if !ok || !validKey(p.TrailerKey) || checkValue(p.TrailerValue) != nil {
		return nil, fmt.Errorf("payload: bad trailer %q", vals[0])
	}
	if !isHex(p.Tree) || (len(p.Tree) != 40 && len(p.Tree) != 64) {
		return nil, fmt.Errorf("payload: bad tree id %q", p.Tree)
	}
	if p.PatchID != None && (!isHex(p.PatchID) || (len(p.PatchID) != 40 && len(p.PatchID) != 64)) {
		return nil, fmt.Errorf("payload: bad patch-id %q", p.PatchID)
	}
	t, err := time.Parse(time.RFC3339, vals[6])
	if err != nil || t.UTC().Format(time.RFC3339) != vals[6] {
		return nil, fmt.Errorf("payload: bad time %q", vals[6])
	}
	p.Time = t.UTC()
	if strings.ToUpper(p.Signer) != p.Signer || !isHex(strings.ToLower(p.Signer)) {
		return nil, fmt.Errorf("payload: bad signer fingerprint %q", p.Signer)
	}
	return p, nil
}

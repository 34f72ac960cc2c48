package attest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Key is the attestation trailer's key: letters, digits and '-' only, and
// not ending in "-by", so checkpatch and b4 never take it for a person.
const Key = "Rapido-Attest"

// MaxValue bounds an attestation trailer's value (blanks removed); a larger
// one is malformed without being decoded.
const MaxValue = 8192

// Width is the column limit of a folded attestation trailer.
const Width = 78

// EncodeValue joins a payload and its signature into an (unfolded) trailer
// value.
func EncodeValue(payload, sig []byte) string {
	return base64.StdEncoding.EncodeToString(payload) + "." + base64.StdEncoding.EncodeToString(sig)
}

// DecodeValue splits a trailer value, folded or not, into payload and
// signature bytes. Blanks anywhere are ignored, as folding and unfolding put
// them there.
func DecodeValue(v string) (payload, sig []byte, err error) {
	if len(v) > 2*MaxValue {
		return nil, nil, fmt.Errorf("attestation too large (%d bytes)", len(v))
	}
	v = stripBlanks(v)
	if len(v) > MaxValue {
		return nil, nil, fmt.Errorf("attestation too large (%d bytes)", len(v))
	}
	p, s, ok := strings.Cut(v, ".")
	if !ok {
		return nil, nil, errors.New("attestation has no '.' between payload and signature")
	}
	if strings.Contains(s, ".") {
		return nil, nil, errors.New("attestation has more than one '.'")
	}
	if payload, err = base64.StdEncoding.Strict().DecodeString(p); err != nil {
		return nil, nil, fmt.Errorf("attestation payload: bad base64: %w", err)
	}
	if sig, err = base64.StdEncoding.Strict().DecodeString(s); err != nil {
		return nil, nil, fmt.Errorf("attestation signature: bad base64: %w", err)
	}
	if len(payload) == 0 || len(sig) == 0 {
		return nil, nil, errors.New("attestation payload or signature is empty")
	}
	return payload, sig, nil
}

// Fold breaks value into continuation lines so that "key: value" fits in
// Width columns per line: the first line holds "key: " and as much of the
// value as fits, each next line starts with one space. The result is the
// value to hand to a trailer writer (lines joined by "\n", no final
// newline). Base64 has no blanks of its own, so the break points carry no
// meaning and unfolding (which turns them into spaces) loses nothing.
func Fold(key, value string) string {
	first := Width - len(key) - 2
	if first < 1 {
		first = 1
	}
	if len(value) <= first {
		return value
	}
	var b strings.Builder
	b.WriteString(value[:first])
	for rest := value[first:]; rest != ""; {
		n := min(len(rest), Width-1)
		b.WriteString("\n " + rest[:n])
		rest = rest[n:]
	}
	return b.String()
}

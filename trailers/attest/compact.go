package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The compact format ("rapido-attest 2") carries only what cannot be
// recomputed from the commit it sits in: the verdict, the tested tree, the
// tested patch-id, a short spec digest, the kernel release and one OpenPGP
// signature packet. The packet's creation time and issuer fingerprint say
// when and who; the vouched-for trailer is found in the message. Tree and
// patch-id are carried although the commit has both: the commit's may
// differ from the tested ones (an amend, a rebase), and a verifier must
// still check the signature to tell a stale verdict from a forged one.
//
// # Value
//
// The trailer value is unpadded standard base64 of:
//
//	byte 0      2 (the format)
//	byte 1      flags: 1 = ids are 32 bytes (SHA-256 repository), else 20;
//	            2 = a patch-id follows; 4 = a spec follows; 8 = a kernel follows
//	byte 2      verdict: 1 pass, 2 reviewed, 3 acked
//	tree        20 or 32 bytes
//	patch-id    20 or 32 bytes, when flag 2
//	spec        8 bytes (the first 16 hex digits of the spec digest), when flag 4
//	kernel      one length byte (1..32) and the release, when flag 8
//	signature   the rest: one binary (0x00) OpenPGP v4 signature packet
//
// A value has no '.', which tells it from the "rapido-attest 1" format.
//
// # Signed bytes
//
// The signature is over this text, which a verifier rebuilds from the value
// and the trailer, and "git rapido verify --export" writes for gpg:
//
//	rapido-attest 2
//	trailer Tested-by: T Ester <tester@example.org>
//	verdict pass
//	tree 0db01086610e473e9a71f3c58c11ac9a4043c334
//	patch-id 6b5f1d3c0f6e1c1b0ed1c3b3d2b9d5e9a9a1b2c3
//	spec 3f2a9c0011223344
//	kernel 6.1.0
//
// with "-" for an absent patch-id, spec or kernel.

// Magic2 is the first line of the signed bytes of a compact attestation.
const Magic2 = "rapido-attest 2"

// SpecLen is the number of hex digits of the spec digest a compact
// attestation carries; MaxKernel bounds the kernel release it carries.
const (
	SpecLen   = 16
	MaxKernel = 32
)

// MaxLines is the most lines a compact attestation trailer takes once
// folded (an Ed25519 signature always fits).
const MaxLines = 4

const (
	flagLongIDs = 1 << iota
	flagPatchID
	flagSpec
	flagKernel
)

var verdictCodes = []string{1: "pass", 2: "reviewed", 3: "acked"}

// ShortSpec is the part of a spec digest a compact attestation carries, or
// "" when the digest is not one (lower-case hex, at least SpecLen digits).
func ShortSpec(digest string) string {
	if len(digest) < SpecLen || !isHex(digest[:SpecLen]) {
		return ""
	}
	return digest[:SpecLen]
}

// ShortKernel cuts a kernel release to what a compact attestation carries
// (at a character boundary).
func ShortKernel(release string) string {
	if len(release) <= MaxKernel {
		return release
	}
	n := MaxKernel
	for n > 0 && !utf8.RuneStart(release[n]) {
		n--
	}
	return strings.TrimSpace(release[:n])
}

// EncodeSigned returns the signed bytes of p in the compact format. Time
// and Signer are not part of them (the signature packet holds both).
func (p *Payload) EncodeSigned() ([]byte, error) {
	if !validKey(p.TrailerKey) {
		return nil, fmt.Errorf("encode payload: bad trailer key %q", p.TrailerKey)
	}
	var b bytes.Buffer
	b.WriteString(Magic2 + "\n")
	names := []string{"trailer", "verdict", "tree", "patch-id", "spec", "kernel"}
	for i, v := range []string{p.Trailer(), p.Verdict, p.Tree, p.PatchID, p.Spec, p.Kernel} {
		if err := checkValue(v); err != nil {
			return nil, fmt.Errorf("encode payload: %s: %w", names[i], err)
		}
		b.WriteString(names[i] + " " + v + "\n")
	}
	return b.Bytes(), nil
}

// encodeCompact packs p's carried fields and the signature packet into a
// trailer value.
func encodeCompact(p *Payload, sig []byte) (string, error) {
	code := verdictCode(p.Verdict)
	if code == 0 {
		return "", fmt.Errorf("encode attestation: verdict %q has no compact code", p.Verdict)
	}
	tree, err := hex.DecodeString(p.Tree)
	if err != nil || (len(tree) != 20 && len(tree) != 32) {
		return "", fmt.Errorf("encode attestation: bad tree id %q", p.Tree)
	}
	var flags byte
	if len(tree) == 32 {
		flags |= flagLongIDs
	}
	b := []byte{2, 0, code}
	b = append(b, tree...)
	if p.PatchID != None {
		pid, err := hex.DecodeString(p.PatchID)
		if err != nil || len(pid) != len(tree) {
			return "", fmt.Errorf("encode attestation: bad patch-id %q", p.PatchID)
		}
		flags |= flagPatchID
		b = append(b, pid...)
	}
	if p.Spec != None {
		spec, err := hex.DecodeString(p.Spec)
		if err != nil || len(p.Spec) != SpecLen || strings.ToLower(p.Spec) != p.Spec {
			return "", fmt.Errorf("encode attestation: spec %q is not %d lower-case hex digits", p.Spec, SpecLen)
		}
		flags |= flagSpec
		b = append(b, spec...)
	}
	if p.Kernel != None {
		if len(p.Kernel) > MaxKernel || checkValue(p.Kernel) != nil {
			return "", fmt.Errorf("encode attestation: bad kernel release %q", p.Kernel)
		}
		flags |= flagKernel
		b = append(append(b, byte(len(p.Kernel))), p.Kernel...)
	}
	b[1] = flags
	return base64.RawStdEncoding.EncodeToString(append(b, sig...)), nil
}

func verdictCode(v string) byte {
	for i, s := range verdictCodes {
		if s != "" && s == v {
			return byte(i)
		}
	}
	return 0
}

// IsCompact reports whether an attestation trailer value (folded or not)
// is in the compact format.
func IsCompact(v string) bool { return !strings.Contains(v, ".") }

// decodeCompact unpacks a compact trailer value into a payload without its
// trailer (the caller finds it in the message) and the signature packet.
func decodeCompact(v string) (*Payload, []byte, error) {
	v = stripBlanks(v)
	if len(v) > MaxValue {
		return nil, nil, fmt.Errorf("attestation too large (%d bytes)", len(v))
	}
	b, err := base64.RawStdEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, nil, fmt.Errorf("attestation: bad base64: %w", err)
	}
	if len(b) < 3 || b[0] != 2 {
		return nil, nil, errors.New("attestation: not in a known format")
	}
	flags, code := b[1], int(b[2])
	if flags&^(flagLongIDs|flagPatchID|flagSpec|flagKernel) != 0 {
		return nil, nil, fmt.Errorf("attestation: unknown flags %#x", flags)
	}
	if code >= len(verdictCodes) || verdictCodes[code] == "" {
		return nil, nil, fmt.Errorf("attestation: unknown verdict code %d", code)
	}
	p := &Payload{Format: 2, Verdict: verdictCodes[code], PatchID: None, Spec: None, Kernel: None}
	idLen := 20
	if flags&flagLongIDs != 0 {
		idLen = 32
	}
	r := &reader{b: b[3:]}
	p.Tree = hex.EncodeToString(r.next(idLen))
	if flags&flagPatchID != 0 {
		p.PatchID = hex.EncodeToString(r.next(idLen))
	}
	if flags&flagSpec != 0 {
		p.Spec = hex.EncodeToString(r.next(SpecLen / 2))
	}
	if flags&flagKernel != 0 {
		n := r.next(1)
		if len(n) == 1 {
			p.Kernel = string(r.next(int(n[0])))
			// "-" is how the signed text says "no kernel": carried, it
			// would decode to a value that encodes without one.
			if n[0] == 0 || n[0] > MaxKernel || p.Kernel == None || checkValue(p.Kernel) != nil {
				return nil, nil, fmt.Errorf("attestation: bad kernel release %q", p.Kernel)
			}
		}
	}
	if r.short || len(r.b) == 0 {
		return nil, nil, errors.New("attestation: truncated")
	}
	return p, r.b, nil
}

// reader takes fixed-size fields off a byte slice and remembers running
// short.
type reader struct {
	b     []byte
	short bool
}

func (r *reader) next(n int) []byte {
	if n > len(r.b) {
		r.short = true
		n = len(r.b)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func stripBlanks(v string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, v)
}

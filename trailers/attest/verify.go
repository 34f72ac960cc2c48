package attest

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/git-rapido/git-rapido/trailers"
)

// Status classifies one verdict of one commit.
type Status string

// The statuses, from best to worst. Only OK is good without --allow.
const (
	OK           Status = "ok"            // signed by a trusted key, for this very tree
	Rebased      Status = "rebased"       // tree differs but the patch-id matches: same patch on a new base
	Stale        Status = "stale"         // tree differs: the code changed after the verdict
	Unsigned     Status = "unsigned"      // a verdict trailer with no attestation
	UnknownKey   Status = "unknown-key"   // well-formed, signed by a key that is not trusted
	BadSignature Status = "bad-signature" // the signature or the vouched-for trailer does not check out
	Malformed    Status = "malformed"     // the attestation cannot be decoded
)

// Statuses lists every status, for flag validation and documentation.
var Statuses = []Status{OK, Rebased, Stale, Unsigned, UnknownKey, BadSignature, Malformed}

// VerdictKeys are the person trailers that count as verdicts even when
// nothing signs them (so that they are reported as unsigned).
var VerdictKeys = []string{"Tested-by", "Reviewed-by", "Acked-by"}

// Result is the verification of one verdict.
type Result struct {
	// Trailer is the verdict trailer "Key: value": the one in the message,
	// or, for an attestation whose trailer is missing, the one it signed.
	Trailer string
	Status  Status
	// Reason says why, in words, for every status but OK.
	Reason string
	// Payload is the decoded payload when there was one.
	Payload *Payload
	// Signer is the trusted certificate's user id when the signature checked.
	Signer string
}

// Verifier checks attestations against a keyring.
type Verifier struct {
	Keys *Keyring
	// Config is the trailer configuration used to find the trailer block
	// (nil for git's defaults).
	Config *trailers.Config

	checks int // signature checks of the message being checked (MaxChecks)
}

// Check verifies every verdict in a commit message. tree is the commit's
// tree id. A result is Stale when the tree differs; the caller may turn it
// into Rebased with Resolve once it knows the commit's patch-id (computing
// patch-ids is costly, so only for those).
func (v *Verifier) Check(msg []byte, tree string) []Result {
	return v.CheckWithNotes(msg, tree, nil)
}

// CheckWithNotes is Check with attestations kept outside the message too
// (rapido.attest=notes): each note entry counts only for the verdict
// trailer it names, when the message carries that trailer.
func (v *Verifier) CheckWithNotes(msg []byte, tree string, notes []NoteEntry) []Result {
	v = &Verifier{Keys: v.Keys, Config: v.Config} // a fresh count of checks
	ts := trailers.Parse(msg, v.Config).Trailers()
	// Note entries go after the message's trailers; named[i] is the
	// trailer the entry at i vouches for.
	named := map[int]string{}
	n := len(ts)
	for _, e := range notes {
		if findTrailer(ts[:n], e.Trailer) >= 0 {
			named[len(ts)] = e.Trailer
			ts = append(ts, trailers.Trailer{Key: Key, Value: e.Value, Folded: e.Value})
		}
	}
	var out []Result
	// A verdict with several attestations (a retest after the code changed
	// adds a fresh one next to the stale one) is as good as its best
	// signed one. Only attestations whose signature could be checked
	// compete: a forged or unreadable one is always shown, so that it
	// cannot hide behind a valid one.
	best := map[int]int{} // verdict trailer index -> index in out
	covered := map[int]bool{}
	for i, t := range ts {
		if !strings.EqualFold(t.Key, Key) {
			continue
		}
		r, idx := v.checkOne(t, i, ts, tree, named[i])
		if idx >= 0 {
			covered[idx] = true
		}
		if idx < 0 || r.Status == BadSignature || r.Status == Malformed {
			out = append(out, r)
			continue
		}
		if j, ok := best[idx]; ok {
			if better(r, out[j]) {
				out[j] = r
			}
			continue
		}
		best[idx] = len(out)
		out = append(out, r)
	}
	for i, t := range ts {
		if covered[i] || !isVerdictKey(t.Key) {
			continue
		}
		out = append(out, Result{Trailer: t.Key + ": " + t.Value, Status: Unsigned,
			Reason: "no " + Key + " trailer vouches for it"})
	}
	return out
}

var rank = map[Status]int{OK: 0, Rebased: 1, Stale: 2, UnknownKey: 3, BadSignature: 4, Malformed: 5}

// better reports whether a is a better attestation of a verdict than b:
// a better status, or the same status and signed later.
func better(a, b Result) bool {
	if rank[a.Status] != rank[b.Status] {
		return rank[a.Status] < rank[b.Status]
	}
	return a.Payload != nil && b.Payload != nil && a.Payload.Time.After(b.Payload.Time)
}

func isVerdictKey(k string) bool {
	for _, v := range VerdictKeys {
		if strings.EqualFold(k, v) {
			return true
		}
	}
	return false
}

// checkOne verifies the attestation trailer ts[pos]; idx is the index in ts
// of the verdict trailer it vouches for, or -1. named is the trailer a note
// entry names ("" for a trailer of the message).
func (v *Verifier) checkOne(t trailers.Trailer, pos int, ts []trailers.Trailer, tree, named string) (Result, int) {
	if IsCompact(t.Folded) {
		return v.checkCompact(t, pos, ts, tree, named)
	}
	r := Result{Trailer: Key + ": (unreadable)"}
	payload, sig, err := DecodeValue(t.Folded)
	if err != nil {
		r.Status, r.Reason = Malformed, err.Error()
		return r, -1
	}
	p, err := ParsePayload(payload)
	if err != nil {
		r.Status, r.Reason = Malformed, err.Error()
		return r, -1
	}
	r.Payload, r.Trailer = p, p.Trailer()
	idx := -1
	for i, o := range ts {
		if strings.EqualFold(o.Key, p.TrailerKey) && o.Value == p.TrailerValue {
			idx = i
			break
		}
	}
	if idx < 0 {
		r.Status = BadSignature
		r.Reason = fmt.Sprintf("the signed trailer %q is not in the message (changed or removed after signing)", p.Trailer())
		return r, -1
	}
	sp, status, reason := readSignature(sig)
	if status == OK {
		var e *openpgp.Entity
		e, status, reason = v.verify(payload, sig, sp)
		if status == OK && fingerprint(e) != p.Signer {
			status, reason = BadSignature, fmt.Sprintf("payload names signer %s but the signature is by %s", p.Signer, fingerprint(e))
		}
		if status == OK {
			r.Signer = identity(e)
		}
	}
	r.Status, r.Reason = status, reason
	if status == OK {
		classify(&r, tree)
	}
	return r, idx
}

// checkCompact verifies a compact attestation: it carries no trailer, so
// the signed bytes are rebuilt with each trailer of the message in turn
// until one verifies. One that verifies for none is reported on the
// verdict trailer it follows.
func (v *Verifier) checkCompact(t trailers.Trailer, pos int, ts []trailers.Trailer, tree, named string) (Result, int) {
	r := Result{Trailer: Key + ": (unreadable)"}
	p, sig, err := decodeCompact(t.Folded)
	if err != nil {
		r.Status, r.Reason = Malformed, err.Error()
		return r, -1
	}
	sp, status, reason := readSignature(sig)
	if status == Malformed {
		r.Status, r.Reason = status, reason
		return r, -1
	}
	idx, only := follows(ts, pos), -1
	if named != "" {
		// A note entry names its trailer: that one only.
		idx = findTrailer(ts, named)
		only = idx
	}
	if idx >= 0 {
		r.Trailer = ts[idx].Key + ": " + ts[idx].Value
	}
	if status == OK && !v.knows(sp) {
		status, reason = UnknownKey, fmt.Sprintf("signed by %s, which is not a trusted key", issuer(sp))
	}
	if status != OK {
		r.Status, r.Reason = status, reason
		return r, idx
	}
	q, e, i, err := v.signedFor(p, sig, sp, ts, idx, only)
	if err != nil {
		r.Status, r.Reason = Malformed, err.Error()
		return r, -1
	}
	if q == nil {
		r.Status = BadSignature
		r.Reason = fmt.Sprintf("signature by %s does not verify for any trailer of the message (changed or removed after signing, or forged)", issuer(sp))
		return r, idx
	}
	r = Result{Trailer: q.Trailer(), Status: OK, Payload: q, Signer: identity(e)}
	classify(&r, tree)
	return r, i
}

// MaxChecks bounds the signature checks of one message: a compact
// attestation is tried against each trailer, and a message stuffed with
// copies of a genuine attestation and many trailers must not make verify
// (or a pre-receive hook) run for minutes. Real messages need a handful.
const MaxChecks = 256

// signedFor finds the trailer of ts that a compact attestation's signature
// verifies for, trying first (the trailer it follows) before the others,
// or only the trailer only when it is not -1. It returns the full payload,
// the signer and the trailer's index, nil when none verifies, and an error
// when the message needs more than MaxChecks checks.
func (v *Verifier) signedFor(p *Payload, sig []byte, sp *packet.Signature, ts []trailers.Trailer, first, only int) (*Payload, *openpgp.Entity, int, error) {
	order := make([]int, 0, len(ts))
	if first >= 0 {
		order = append(order, first)
	}
	for i := range ts {
		if i != first && (only < 0 || i == only) {
			order = append(order, i)
		}
	}
	for _, i := range order {
		if strings.EqualFold(ts[i].Key, Key) {
			continue
		}
		q := *p
		q.TrailerKey, q.TrailerValue = ts[i].Key, ts[i].Value
		b, err := q.EncodeSigned()
		if err != nil {
			continue
		}
		if v.checks++; v.checks > MaxChecks {
			return nil, nil, -1, fmt.Errorf("more than %d signature checks for one commit (too many attestations and trailers): not checked", MaxChecks)
		}
		if e, status, _ := v.verify(b, sig, sp); status == OK {
			q.Time, q.Signer = sp.CreationTime.UTC(), fingerprint(e)
			return &q, e, i, nil
		}
	}
	return nil, nil, -1, nil
}

// findTrailer is the index of the trailer "Key: value" in ts, or -1.
func findTrailer(ts []trailers.Trailer, trailer string) int {
	key, val, _ := strings.Cut(trailer, ": ")
	for i, o := range ts {
		if strings.EqualFold(o.Key, key) && o.Value == val && !strings.EqualFold(o.Key, Key) {
			return i
		}
	}
	return -1
}

// follows is the index of the trailer before ts[pos] that is not an
// attestation (the one git rapido wrote it after), or -1.
func follows(ts []trailers.Trailer, pos int) int {
	for i := pos - 1; i >= 0; i-- {
		if !strings.EqualFold(ts[i].Key, Key) {
			return i
		}
	}
	return -1
}

// classify turns a verified result into Stale when the tested tree is not
// the commit's.
func classify(r *Result, tree string) {
	if r.Payload.Tree != tree {
		r.Status = Stale
		r.Reason = fmt.Sprintf("tested tree %.12s, commit has tree %.12s: the code changed after the verdict", r.Payload.Tree, tree)
	}
}

// weakHashes are refused in signatures: a SHA-1 signature can be made to
// vouch for a second, colliding payload.
var weakHashes = map[crypto.Hash]string{crypto.SHA1: "SHA-1", crypto.MD5: "MD5", crypto.RIPEMD160: "RIPEMD-160"}

// readSignature checks that sig is exactly one binary signature packet
// with a strong hash; the status is OK when it is.
func readSignature(sig []byte) (*packet.Signature, Status, string) {
	pr := packet.NewReader(bytes.NewReader(sig))
	pkt, err := pr.Next()
	if err != nil {
		return nil, Malformed, fmt.Sprintf("signature: %v", err)
	}
	sp, ok := pkt.(*packet.Signature)
	if !ok {
		return nil, Malformed, "signature: not an OpenPGP signature packet"
	}
	if _, err := pr.Next(); err != io.EOF {
		return nil, Malformed, "signature: more than one packet"
	}
	if sp.SigType != packet.SigTypeBinary {
		return nil, Malformed, fmt.Sprintf("signature: type %#x, want binary (0x00)", int(sp.SigType))
	}
	if name, weak := weakHashes[sp.Hash]; weak {
		return nil, BadSignature, fmt.Sprintf("signature by %s uses %s, which is broken: refused (sign again)", issuer(sp), name)
	}
	return sp, OK, ""
}

// verify checks sig over payload against the trusted keys.
func (v *Verifier) verify(payload, sig []byte, sp *packet.Signature) (*openpgp.Entity, Status, string) {
	var el openpgp.EntityList
	if v.Keys != nil {
		el = v.Keys.el
	}
	_, e, err := openpgp.VerifyDetachedSignature(el, bytes.NewReader(payload), bytes.NewReader(sig), nil)
	if err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return nil, UnknownKey, fmt.Sprintf("signed by %s, which is not a trusted key", issuer(sp))
		}
		return nil, BadSignature, fmt.Sprintf("signature by %s does not verify: %v", issuer(sp), err)
	}
	return e, OK, ""
}

// knows reports whether a trusted key has the signature's issuer key id.
func (v *Verifier) knows(sp *packet.Signature) bool {
	return v.Keys != nil && sp.IssuerKeyId != nil && len(v.Keys.el.KeysById(*sp.IssuerKeyId)) > 0
}

func identity(e *openpgp.Entity) string {
	if e == nil {
		return ""
	}
	if pi := e.PrimaryIdentity(); pi != nil {
		return pi.Name
	}
	return fingerprint(e)
}

func issuer(sp *packet.Signature) string {
	if len(sp.IssuerFingerprint) > 0 {
		return strings.ToUpper(fmt.Sprintf("%x", sp.IssuerFingerprint))
	}
	if sp.IssuerKeyId != nil {
		return fmt.Sprintf("key id %016X", *sp.IssuerKeyId)
	}
	return "an unnamed key"
}

// Resolve turns a Stale result into Rebased when the commit's patch-id
// (git patch-id --stable against its first parent) is the signed one.
func Resolve(r *Result, patchID string) {
	if r.Status != Stale || r.Payload == nil || r.Payload.PatchID == None || patchID == "" {
		return
	}
	if r.Payload.PatchID == patchID {
		r.Status = Rebased
		r.Reason = fmt.Sprintf("tested on tree %.12s; the same patch (patch-id %.12s) now sits on another base", r.Payload.Tree, patchID)
	}
}

// Exported is one attestation as GnuPG checks it: the signed bytes and an
// armored detached signature, for "gpg --verify sig payload".
type Exported struct {
	Payload, Signature []byte
}

// Export returns every attestation trailer of msg, in order. A compact
// attestation's signed bytes are rebuilt with the trailer its signature
// verifies for with the trusted keys, or else with the trailer it follows
// (where git rapido writes it), so that gpg says which.
func (v *Verifier) Export(msg []byte) ([]Exported, error) { return v.ExportWithNotes(msg, nil) }

// ExportWithNotes is Export followed by the note entries, each with the
// trailer it names.
func (v *Verifier) ExportWithNotes(msg []byte, notes []NoteEntry) ([]Exported, error) {
	v = &Verifier{Keys: v.Keys, Config: v.Config}
	ts := trailers.Parse(msg, v.Config).Trailers()
	named := map[int]string{}
	for _, e := range notes {
		key, val, _ := strings.Cut(e.Trailer, ": ")
		named[len(ts)] = e.Trailer
		ts = append(ts, trailers.Trailer{Key: Key, Value: e.Value, Folded: e.Value}, trailers.Trailer{Key: key, Value: val})
	}
	var out []Exported
	for i, t := range ts {
		if !strings.EqualFold(t.Key, Key) {
			continue
		}
		payload, sig, err := v.exportOne(t, i, ts, named[i])
		if err != nil {
			return nil, fmt.Errorf("attestation %d: %w", len(out)+1, err)
		}
		var b bytes.Buffer
		aw, err := armor.Encode(&b, openpgp.SignatureType, nil)
		if err != nil {
			return nil, err
		}
		aw.Write(sig)
		if err := aw.Close(); err != nil {
			return nil, err
		}
		b.WriteString("\n")
		out = append(out, Exported{Payload: payload, Signature: b.Bytes()})
	}
	return out, nil
}

func (v *Verifier) exportOne(t trailers.Trailer, pos int, ts []trailers.Trailer, named string) (payload, sig []byte, err error) {
	if !IsCompact(t.Folded) {
		return DecodeValue(t.Folded)
	}
	p, sig, err := decodeCompact(t.Folded)
	if err != nil {
		return nil, nil, err
	}
	idx := follows(ts, pos)
	if named != "" {
		idx = pos + 1 // the trailer ExportWithNotes put after the entry
	} else if r, i := v.checkCompact(t, pos, ts, p.Tree, ""); r.Payload != nil && i >= 0 {
		idx = i
	}
	if idx < 0 {
		return nil, nil, errors.New("no trailer before it to vouch for")
	}
	p.TrailerKey, p.TrailerValue = ts[idx].Key, ts[idx].Value
	payload, err = p.EncodeSigned()
	return payload, sig, err
}

package attest

import (
	"bytes"
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
}

// Check verifies every verdict in a commit message. tree is the commit's
// tree id. A result is Stale when the tree differs; the caller may turn it
// into Rebased with Resolve once it knows the commit's patch-id (computing
// patch-ids is costly, so only for those).
func (v *Verifier) Check(msg []byte, tree string) []Result {
	block := trailers.Parse(msg, v.Config)
	ts := block.Trailers()
	var out []Result
	// A verdict with several attestations (a retest after the code changed
	// adds a fresh one next to the stale one) is as good as its best.
	best := map[int]int{} // verdict trailer index -> index in out
	for _, t := range ts {
		if !strings.EqualFold(t.Key, Key) {
			continue
		}
		r, idx := v.checkOne(t, ts, tree)
		if idx < 0 {
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
		if _, ok := best[i]; ok || !isVerdictKey(t.Key) {
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

// checkOne verifies one attestation trailer; idx is the index in ts of the
// verdict trailer it vouches for, or -1.
func (v *Verifier) checkOne(t trailers.Trailer, ts []trailers.Trailer, tree string) (Result, int) {
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
	signer, status, reason := v.checkSignature(payload, sig, p)
	if status != OK {
		r.Status, r.Reason = status, reason
		return r, idx
	}
	r.Signer = signer
	if p.Tree != tree {
		r.Status = Stale
		r.Reason = fmt.Sprintf("tested tree %.12s, commit has tree %.12s: the code changed after the verdict", p.Tree, tree)
		return r, idx
	}
	r.Status = OK
	return r, idx
}

func (v *Verifier) checkSignature(payload, sig []byte, p *Payload) (signer string, s Status, reason string) {
	pr := packet.NewReader(bytes.NewReader(sig))
	pkt, err := pr.Next()
	if err != nil {
		return "", Malformed, fmt.Sprintf("signature: %v", err)
	}
	sp, ok := pkt.(*packet.Signature)
	if !ok {
		return "", Malformed, "signature: not an OpenPGP signature packet"
	}
	if _, err := pr.Next(); err != io.EOF {
		return "", Malformed, "signature: more than one packet"
	}
	if sp.SigType != packet.SigTypeBinary {
		return "", Malformed, fmt.Sprintf("signature: type %#x, want binary (0x00)", int(sp.SigType))
	}
	var el openpgp.EntityList
	if v.Keys != nil {
		el = v.Keys.el
	}
	_, e, err := openpgp.VerifyDetachedSignature(el, bytes.NewReader(payload), bytes.NewReader(sig), nil)
	if err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return "", UnknownKey, fmt.Sprintf("signed by %s, which is not a trusted key", issuer(sp))
		}
		return "", BadSignature, fmt.Sprintf("signature by %s does not verify: %v", issuer(sp), err)
	}
	if fp := fingerprint(e); fp != p.Signer {
		return "", BadSignature, fmt.Sprintf("payload names signer %s but the signature is by %s", p.Signer, fp)
	}
	id := fingerprint(e)
	if pi := e.PrimaryIdentity(); pi != nil {
		id = pi.Name
	}
	return id, OK, ""
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

// Export returns the payload bytes and an armored detached signature of an
// attestation trailer value, for "gpg --verify sig payload".
func Export(value string) (payload, armoredSig []byte, err error) {
	payload, sig, err := DecodeValue(value)
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	aw, err := armor.Encode(&b, openpgp.SignatureType, nil)
	if err != nil {
		return nil, nil, err
	}
	aw.Write(sig)
	if err := aw.Close(); err != nil {
		return nil, nil, err
	}
	b.WriteString("\n")
	return payload, b.Bytes(), nil
}

package attest

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Signer signs payloads with one OpenPGP secret key.
type Signer struct {
	e *openpgp.Entity
}

// Fingerprint is the signing certificate's primary key fingerprint in
// upper-case hex, as it goes into the payload's signer field.
func (s *Signer) Fingerprint() string { return fingerprint(s.e) }

// Identity is the certificate's primary user id ("Name <email>").
func (s *Signer) Identity() string {
	if id := s.e.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return ""
}

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))
}

// ErrPassphrase is returned by ReadSigner when the key is protected and
// the passphrase is wrong or missing.
var ErrPassphrase = errors.New("wrong passphrase")

// ReadSigner reads an armored secret key. When it is passphrase-protected,
// passphrase is called once to get the passphrase.
func ReadSigner(r io.Reader, passphrase func() ([]byte, error)) (*Signer, error) {
	el, err := openpgp.ReadArmoredKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("read secret key: want one key, found %d", len(el))
	}
	e := el[0]
	if e.PrivateKey == nil {
		return nil, errors.New("read secret key: this is a public key")
	}
	if e.PrivateKey.Encrypted {
		if passphrase == nil {
			return nil, fmt.Errorf("read secret key: %w", ErrPassphrase)
		}
		pw, err := passphrase()
		if err != nil {
			return nil, fmt.Errorf("read secret key: %w", err)
		}
		if err := e.DecryptPrivateKeys(pw); err != nil {
			return nil, fmt.Errorf("read secret key: %w", ErrPassphrase)
		}
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, errors.New("read secret key: no usable signing key (expired or revoked?)")
	}
	return &Signer{e: e}, nil
}

// Sign signs p in the compact format ("rapido-attest 2") and returns the
// trailer value (unfolded: use Fold to write it). p.Time is the signature's
// creation time; p.Signer and p.Format are filled in.
func (s *Signer) Sign(p *Payload) (string, error) {
	p.Format, p.Signer = 2, s.Fingerprint()
	b, err := p.EncodeSigned()
	if err != nil {
		return "", err
	}
	sig, err := s.signPacket(b, p.Time)
	if err != nil {
		return "", err
	}
	return encodeCompact(p, sig)
}

// signPacket makes the smallest detached signature GnuPG verifies: SHA-256,
// a creation time and the issuer fingerprint in the hashed area, and no
// issuer key id (the fingerprint names the key) nor salt notation (Ed25519
// signatures are deterministic by design). About 109 bytes for Ed25519.
func (s *Signer) signPacket(msg []byte, t time.Time) ([]byte, error) {
	key, ok := s.e.SigningKey(t)
	if !ok || key.PrivateKey == nil || key.PrivateKey.Encrypted {
		return nil, errors.New("sign payload: no usable signing key")
	}
	if key.PublicKey.Version != 4 {
		return nil, fmt.Errorf("sign payload: a v%d key; only v4 keys sign attestations", key.PublicKey.Version)
	}
	off := false
	cfg := &packet.Config{DefaultHash: crypto.SHA256, NonDeterministicSignaturesViaNotation: &off}
	sig := &packet.Signature{Version: 4, SigType: packet.SigTypeBinary, PubKeyAlgo: key.PublicKey.PubKeyAlgo,
		Hash: crypto.SHA256, CreationTime: t, IssuerKeyVersion: 4, IssuerFingerprint: key.PublicKey.Fingerprint}
	h, err := sig.PrepareSign(cfg)
	if err != nil {
		return nil, fmt.Errorf("sign payload: %w", err)
	}
	h.Write(msg)
	if err := sig.Sign(h, key.PrivateKey, cfg); err != nil {
		return nil, fmt.Errorf("sign payload: %w", err)
	}
	var b bytes.Buffer
	if err := sig.Serialize(&b); err != nil {
		return nil, fmt.Errorf("sign payload: %w", err)
	}
	return b.Bytes(), nil
}

// WritePublic writes the signer's public certificate, armored.
func (s *Signer) WritePublic(w io.Writer) error { return writePublic(w, s.e) }

// ExportPublic reads an armored secret (or public) key from r and writes its
// public certificate, armored, to w. A protected secret key needs no
// passphrase for this.
func ExportPublic(w io.Writer, r io.Reader) error {
	el, err := openpgp.ReadArmoredKeyRing(r)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	if len(el) != 1 {
		return fmt.Errorf("read key: want one key, found %d", len(el))
	}
	return writePublic(w, el[0])
}

func writePublic(w io.Writer, e *openpgp.Entity) error {
	aw, err := armor.Encode(w, openpgp.PublicKeyType, nil)
	if err != nil {
		return err
	}
	if err := e.Serialize(aw); err != nil {
		return fmt.Errorf("export public key: %w", err)
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// GenerateKey makes a new Ed25519 (OpenPGP v4 EdDSA) certificate for
// "name <email>" and writes the armored secret key to w, protected by
// passphrase unless it is empty. The result is also usable by GnuPG.
func GenerateKey(w io.Writer, name, email string, passphrase []byte, now time.Time) (*Signer, error) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519,
		Time: func() time.Time { return now }}
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	// Serialise while the key is in the clear: SerializePrivate re-signs.
	var clear bytes.Buffer
	if err := e.SerializePrivate(&clear, cfg); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if len(passphrase) > 0 {
		el, err := openpgp.ReadKeyRing(&clear)
		if err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
		e = el[0]
		if err := e.EncryptPrivateKeys(passphrase, cfg); err != nil {
			return nil, fmt.Errorf("generate key: protect: %w", err)
		}
		clear.Reset()
		if err := e.SerializePrivateWithoutSigning(&clear, cfg); err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
	}
	aw, err := armor.Encode(w, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := aw.Write(clear.Bytes()); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return nil, err
	}
	if len(passphrase) > 0 {
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, err
		}
	}
	return &Signer{e: e}, nil
}

// Keyring is the set of trusted certificates.
type Keyring struct {
	el openpgp.EntityList
}

// Add reads armored certificates (public or secret; only the public part is
// used) from r. name is used in errors.
func (k *Keyring) Add(r io.Reader, name string) error {
	el, err := openpgp.ReadArmoredKeyRing(r)
	if err != nil {
		return fmt.Errorf("read trusted keys %s: %w", name, err)
	}
	k.el = append(k.el, el...)
	return nil
}

// Len is the number of certificates.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.el)
}

// Fingerprints lists the trusted primary fingerprints.
func (k *Keyring) Fingerprints() []string {
	var fs []string
	for _, e := range k.el {
		fs = append(fs, fingerprint(e))
	}
	return fs
}

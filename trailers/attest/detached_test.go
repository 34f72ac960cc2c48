package attest

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestDetachedRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 0)
	var secret bytes.Buffer
	s, err := GenerateKey(&secret, "B Ob", "bob@example.org", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := s.WritePublic(&pub); err != nil {
		t.Fatal(err)
	}
	var trusted Keyring
	if err := trusted.Add(&pub, "bob"); err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"spec":"s","tree":"t","status":"pass"}`)
	sig, err := s.SignDetached(data, now)
	if err != nil {
		t.Fatal(err)
	}
	if who, err := trusted.VerifyDetached(data, sig); err != nil || who != "B Ob <bob@example.org>" {
		t.Errorf("VerifyDetached = %q, %v; want B Ob <bob@example.org>", who, err)
	}
	if _, err := trusted.VerifyDetached([]byte(`{"spec":"s","tree":"t","status":"fail"}`), sig); err == nil {
		t.Error("a signature verifies over changed data")
	}
	var nobody Keyring
	if _, err := nobody.VerifyDetached(data, sig); !errors.Is(err, ErrUntrustedKey) {
		t.Errorf("an empty keyring: %v, want ErrUntrustedKey", err)
	}
	if _, err := trusted.VerifyDetached(data, []byte("junk")); err == nil {
		t.Error("junk verifies as a signature")
	}
}

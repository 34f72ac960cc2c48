package attest

import (
	"fmt"
	"strings"
)

// CheckTrailerKey is the one check of a trailer key git rapido writes (from
// --trailer-key, "trailer add" or configuration): a token of letters, digits
// and '-' starting with a letter, which git interpret-trailers and every
// trailer parser read back as the same key, and not Key, whose values only
// the signer may write.
func CheckTrailerKey(k string) error {
	if strings.EqualFold(k, Key) {
		return fmt.Errorf("trailer key %q is reserved for git rapido's attestations", k)
	}
	if !validKey(k) {
		return fmt.Errorf("bad trailer key %q: want letters, digits and '-', starting with a letter (e.g. Tested-by)", k)
	}
	return nil
}

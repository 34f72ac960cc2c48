package attest

import "testing"

func TestCheckTrailerKey(t *testing.T) {
	for _, k := range []string{"Tested-by", "Reviewed-by", "X-Rapido-CI2", "TODO-jd"} {
		if err := CheckTrailerKey(k); err != nil {
			t.Errorf("CheckTrailerKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range []string{"", "Foo Bar", "Tested-by:", "-by", "1st", "Tested\tby", "Tested-by\n", "Rapido-Attest", "rapido-attest", "Tëst"} {
		if err := CheckTrailerKey(k); err == nil {
			t.Errorf("CheckTrailerKey(%q) = nil, want an error", k)
		}
	}
}

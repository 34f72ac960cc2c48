package kbuild

import (
	"reflect"
	"testing"
)

func TestDropRedundant(t *testing.T) {
	in := []string{"CONFIG_A=y", "CONFIG_B=m", "CONFIG_A=y", "# CONFIG_C is not set", "CONFIG_C=n", "CONFIG_B=y", "CONFIG_B=m", "CONFIG_B=m"}
	want := []string{"CONFIG_A=y", "CONFIG_B=m", "# CONFIG_C is not set", "CONFIG_B=y", "CONFIG_B=m"}
	if got := DropRedundant(in); !reflect.DeepEqual(got, want) {
		t.Errorf("DropRedundant = %q, want %q", got, want)
	}
	if in[2] != "CONFIG_A=y" {
		t.Error("DropRedundant changed its input")
	}
}

// A cut asking for what rapido.kconfig already sets keeps the digest; a
// different value changes it.
func TestConfigDigestIgnoresRepeats(t *testing.T) {
	d := func(frags ...string) string {
		s, err := ConfigDigest(Options{Fragments: frags})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := d("CONFIG_ZRAM=y", "CONFIG_EXT4_FS=y")
	if got := d("CONFIG_ZRAM=y", "CONFIG_EXT4_FS=y", "CONFIG_ZRAM=y"); got != base {
		t.Error("a repeated setting changed the config digest")
	}
	if got := d("CONFIG_ZRAM=y", "CONFIG_EXT4_FS=y", "CONFIG_ZRAM=m"); got == base {
		t.Error("a changed setting kept the config digest")
	}
	if got := d("CONFIG_EXT4_FS=y", "CONFIG_ZRAM=y"); got == base {
		t.Error("the order of distinct settings is ignored (it decides which wins)")
	}
}

package bisect

import (
	"testing"

	"github.com/git-rapido/git-rapido/vmrun"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		s    vmrun.Status
		p    Policy
		want Mark
	}{
		{vmrun.Pass, Policy{}, Good},
		{vmrun.Fail, Policy{}, Bad},
		{vmrun.Crash, Policy{}, Bad},
		{vmrun.Hang, Policy{}, Bad},
		{vmrun.Hang, Policy{HangSkip: true}, Skip},
		{vmrun.BuildFail, Policy{}, Skip},
		{vmrun.BuildFail, Policy{BuildFailBad: true}, Bad},
		{vmrun.Infra, Policy{}, Abort},
		{vmrun.Infra, Policy{BuildFailBad: true, HangSkip: true}, Abort},
		{"", Policy{}, Abort},
	} {
		if got := Classify(tc.s, tc.p); got != tc.want {
			t.Errorf("Classify(%q, %+v) = %s, want %s", tc.s, tc.p, got, tc.want)
		}
	}
}

func TestSkippedOutputParses(t *testing.T) {
	out := "There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n" +
		"1111111111111111111111111111111111111111\n2222222222222222222222222222222222222222\nWe cannot bisect more!\n"
	m := skippedRe.FindStringSubmatch(out)
	if m == nil || len(shaRe.FindAllString(m[1], -1)) != 2 {
		t.Fatalf("skipped output not recognised: %q", m)
	}
	if m := firstBadRe.FindStringSubmatch("3333333333333333333333333333333333333333 is the first bad commit\ncommit 33..."); m == nil {
		t.Fatal("first bad commit not recognised")
	}
}

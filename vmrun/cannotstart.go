package vmrun

import (
	"fmt"

	"github.com/git-rapido/git-rapido/vmrun/internal/guest"
)

// cannotStart reports a test that never ran: the guest (or the shell the
// test is) answered 127, not found, or 126, found but not executable. That
// says the image lacks the program, nothing about the kernel under test:
// the verdict is Infra (exit 128, never cached, a bisect stops), not Fail.
func cannotStart(res guest.Event) bool {
	return res.Signal == "" && (res.ExitCode == 126 || res.ExitCode == 127)
}

// cannotStartReason says what happened and how to see what the image holds.
func cannotStartReason(code int) string {
	what := "was not found"
	if code == 126 {
		what = "could not be executed"
	}
	return fmt.Sprintf("cannot test: the test program %s in the guest (exit %d); "+
		"see what the image holds: git rapido cut <the same options> -o image.cpio && cpio -t <image.cpio", what, code)
}

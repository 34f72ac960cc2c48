#!/usr/bin/env bash
# Creates fixture commits on top of v6.1 in the current kernel repository.
# Commits get fixed dates and identities, so the same script gives the same
# commit ids on every machine. Each fixture touches one source file, so the
# kernel rebuilds incrementally between them.
#
# usage: contrib/kernel/make-series.sh fixtures   branches fixture/{pass,regress,panic,nobuild}
#        contrib/kernel/make-series.sh demo       a 4-commit series on branch demo, commit 3 regresses
#        contrib/kernel/make-series.sh bisect     a 12-commit series on branch bisect: 4 does not
#                                                 compile (fixed in 5), 8 regresses /proc/version
#        contrib/kernel/make-series.sh loop       a 10-commit series on branch loop (benchmarks):
#                                                 eight change one source file, 4 only the
#                                                 documentation, 7 only its message
#
# The regression is userspace-visible: /proc/version no longer starts with
# "Linux version" (it gets a "rapido-regressed " prefix), which the test
# command checks:
#     git rapido run -- sh -c 'grep -q "^Linux version" /proc/version'
set -euo pipefail

export GIT_AUTHOR_NAME="Fixture Author" GIT_AUTHOR_EMAIL="author@example.org"
export GIT_COMMITTER_NAME="Fixture Author" GIT_COMMITTER_EMAIL="author@example.org"
n=0
commit() { # commit SUBJECT
	n=$((n + 1))
	export GIT_AUTHOR_DATE="$((1700000000 + n * 60)) +0000" GIT_COMMITTER_DATE="$((1700000000 + n * 60)) +0000"
	git commit -q -a --allow-empty -m "$1" -m "Fixture commit made by contrib/kernel/make-series.sh."
}

version=fs/proc/version.c
cmdline=fs/proc/cmdline.c

harmless() { # harmless N: a change that compiles and keeps behaviour
	printf '\n/* rapido fixture: harmless change %s */\n' "$1" >>"$cmdline"
}
regress() {
	perl -0pi -e 's/(\tseq_printf\(m, linux_proc_banner,)/\tseq_puts(m, "rapido-regressed ");\n$1/' "$version"
	grep -q 'rapido-regressed' "$version"
}
panic_at_boot() {
	perl -0pi -e 's/(static int __init proc_version_init\(void\)\n\{\n)/$1\tpanic("rapido fixture: boot panic");\n/' "$version"
	grep -q 'rapido fixture: boot panic' "$version"
}
break_build() {
	printf '\nint rapido_fixture_broken = ;\n' >>"$cmdline"
}
fix_build() {
	sed -i '/^int rapido_fixture_broken = ;$/d' "$cmdline"
}

start() { git checkout -q -f -B "$1" v6.1; n=0; }

case ${1:-} in
fixtures)
	start fixture/pass
	harmless 1
	commit "proc: fixture that passes"
	start fixture/regress
	regress
	commit "proc: fixture whose /proc/version regresses"
	start fixture/panic
	panic_at_boot
	commit "proc: fixture that panics at boot"
	start fixture/nobuild
	break_build
	commit "proc: fixture that does not compile"
	git checkout -q --detach v6.1
	;;
demo)
	start demo
	harmless 1
	commit "proc/cmdline: document the buffer size"
	harmless 2
	commit "proc/cmdline: note the seq_file contract"
	regress
	commit "proc/version: brand the version banner"
	harmless 3
	commit "proc/cmdline: tidy up"
	;;
bisect)
	start bisect
	for i in $(seq 12); do
		case $i in
		4) break_build ;;
		5) fix_build; harmless $i ;;
		8) regress ;;
		*) harmless $i ;;
		esac
		commit "bisect fixture $i"
	done
	;;
loop)
	# Like a real series: commit 4 touches documentation only, commit 7
	# only rewords its message (its tree is its parent's).
	start loop
	for i in $(seq 10); do
		case $i in
		4) printf '\nrapido fixture: documentation change %s\n' "$i" >>Documentation/admin-guide/README.rst ;;
		7) ;;
		*) harmless "$i" ;;
		esac
		commit "loop fixture $i"
	done
	;;
*)
	echo "usage: make-series.sh fixtures|demo|bisect|loop" >&2
	exit 2
	;;
esac

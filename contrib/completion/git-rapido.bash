# bash completion for "git rapido", plugged into git's own completion:
# git-completion.bash calls _git_rapido for "git rapido <TAB>". Source this
# file after git's completion (make install puts it where bash-completion
# finds it). Commands, verbs and flags come from the binary, so they never
# drift from its help.

_git_rapido ()
{
	local subcommand verbs verb
	subcommand="$(__git_find_on_cmdline "$(git rapido __complete 2>/dev/null)")"
	if [ -z "$subcommand" ]; then
		__gitcomp "$(git rapido __complete 2>/dev/null) --help --version"
		return
	fi
	verbs="$(git rapido __complete --verbs "$subcommand" 2>/dev/null)"
	if [ -n "$verbs" ]; then
		verb="$(__git_find_on_cmdline "$verbs")"
	fi
	case "$cur" in
	--cut=*)
		__gitcomp "$(git rapido cut --list 2>/dev/null | awk '{print $1}')" "" "${cur##--cut=}"
		;;
	--*)
		__gitcomp "$(git rapido __complete "$subcommand" 2>/dev/null) --help"
		;;
	*)
		if [ -n "$verbs" ] && [ -z "$verb" ]; then
			__gitcomp "$verbs"
			return
		fi
		case "$subcommand,$verb" in
		cache,push|cache,fetch)
			__gitcomp_nl "$(__git_remotes)"
			;;
		test,*|run,*|build,*|boot,*|cut,*|review,*|trailer,*|trailers,*|hooks,*|key,*|net,*|cache,list|cache,prune)
			;;
		*)
			__git_complete_refs
			;;
		esac
		;;
	esac
}

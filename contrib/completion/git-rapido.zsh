# zsh completion for "git rapido": git's zsh completion (_git) dispatches
# "git rapido" to the bash function through its bash-completion bridge, so
# this file only makes sure the bash function is loaded.
# Put it on $fpath before compinit, next to git-completion.bash.
if (( ! $+functions[_git_rapido] )); then
	source "${${(%):-%x}:A:h}/git-rapido.bash"
fi

"""``trn completion bash|zsh``: print a shell completion script (install it with one line).

The script asks ``trn completion __complete LINE`` for candidates, so commands, flags, config
groups, options and keys (from ``conf/``) and job ids (from the index) are always current.
"""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """install (once; new shells then complete trn):
  trn completion bash >> ~/.bashrc
  trn completion zsh >> ~/.zshrc
try it in this shell:
  source <(trn completion bash)
"""

BASH = r"""# trn shell completion (bash): trn completion bash >> ~/.bashrc
_trn_complete() {
    local line="${COMP_LINE:0:COMP_POINT}" cur="${COMP_WORDS[COMP_CWORD]}"
    local IFS=$'\n'
    local out=($(trn completion __complete "$line" 2>/dev/null))
    if [[ "${out[0]}" == "__files__" ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    # bash splits words at '=' and ':'; hand back only what follows its current word's start
    local word="${line##*[[:space:]]}"
    local strip="${word%"$cur"}"
    COMPREPLY=("${out[@]#"$strip"}")
    if [[ ${#COMPREPLY[@]} -eq 1 && "${COMPREPLY[0]}" == *[=.] ]]; then
        compopt -o nospace 2>/dev/null
    fi
}
complete -F _trn_complete trn
"""

ZSH = r"""# trn shell completion (zsh): trn completion zsh >> ~/.zshrc
_trn_complete() {
    local -a out open
    out=("${(@f)$(trn completion __complete "${(j: :)${(@q)words[1,CURRENT-1]}} ${words[CURRENT]}" 2>/dev/null)}")
    if [[ "${out[1]}" == "__files__" ]]; then
        _files
        return
    fi
    open=(${(M)out:#*[=.]})
    out=(${out:#*[=.]})
    (( ${#open} )) && compadd -Q -S '' -- "${open[@]}"
    (( ${#out} )) && compadd -Q -- "${out[@]}"
}
(( $+functions[compdef] )) || { autoload -Uz compinit && compinit }
compdef _trn_complete trn
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh)",
        description="Print a completion script for commands, flags, config groups and options, "
        "override keys, and job ids.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=["bash", "zsh", "__complete"], metavar="{bash,zsh}")
    p.add_argument("line", nargs="?", default="", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.shell == "__complete":  # called by the scripts: one candidate per line
        from trn.cli.complete import candidates

        for candidate in candidates(args.line):
            print(candidate)
        return 0
    print(BASH if args.shell == "bash" else ZSH, end="")
    return 0

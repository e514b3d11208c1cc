#!/usr/bin/env bash
# Self-test of hack/verify-tracked-files.sh: in a scratch repository, each
# kind of file it must refuse makes it fail, and plain source (and an allowed
# fixture) passes. `make verify-tracked-files` runs this before the check.
set -euo pipefail

check="$(cd "$(dirname "$0")" && pwd)/verify-tracked-files.sh"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

fails=0
# expect WANT NAME SETUP...: SETUP runs in a fresh repo holding one source
# file; the check must exit 0 (WANT=pass) or non-zero (WANT=fail).
expect() {
	local want="$1" name="$2"
	shift 2
	local dir="$scratch/$name"
	mkdir -p "$dir"
	(
		cd "$dir"
		git init -q .
		printf 'package main\n' >main.go
		"$@"
		git add -A
	)
	local got=pass
	MAX_TRACKED_BYTES=4096 ALLOW_FILE=allow.txt "$check" "$dir" >"$dir.out" 2>&1 || got=fail
	if [[ "$got" != "$want" ]]; then
		echo "FAIL $name: want $want, got $got" >&2
		sed 's/^/    /' "$dir.out" >&2
		fails=1
	else
		echo "ok   $name ($want)"
	fi
}

elf() { printf '\x7fELF\x02\x01\x01\x00rest' >tool; }
macho() { printf '\xcf\xfa\xed\xfe\x07\x00\x00\x01' >tool; }
pe() {
	# DOS header with e_lfanew = 0x40, then the PE signature there.
	{ printf 'MZ'; head -c 58 /dev/zero; printf '\x40\x00\x00\x00'; printf 'PE\x00\x00'; } >tool.exe
}
mz_text() { printf 'MZ is how this note starts, and it is text.\n' >note.txt; }
nul() { printf 'abc\x00def' >blob.dat; }
nul_allowed() { nul; printf '# fixtures\nblob.dat\n' >allow.txt; }
elf_allowed() { elf; printf 'tool\n' >allow.txt; }
big() { head -c 5000 /dev/zero | tr '\0' 'x' >big.txt; }
at_limit() { head -c 4096 /dev/zero | tr '\0' 'x' >limit.txt; }
odd_name() { printf 'text\n' >'a file	with tab'; }
odd_name_elf() { elf; mv tool 'a bin	with tab'; }

expect pass source true
expect fail elf elf
expect fail macho macho
expect fail pe pe
expect pass mz-text mz_text
expect fail nul nul
expect pass nul-allowed nul_allowed
expect fail elf-even-if-allowed elf_allowed
expect fail over-limit big
expect pass at-limit at_limit
expect pass odd-name odd_name
expect fail odd-name-elf odd_name_elf

exit "$fails"

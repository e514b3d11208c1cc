#!/usr/bin/env bash
# Fails when Git tracks something built rather than written: an executable
# binary (ELF, Mach-O or PE magic), any file with NUL bytes that is not an
# allowed fixture, or any file larger than the size limit (1 MiB). Build
# output belongs in bin/ (ignored); a committed 55 MB debug build once sat at
# the root unnoticed.
#
# It reads the index (what a commit would contain), not the work tree.
#
# Usage: hack/verify-tracked-files.sh [REPO_DIR]
#   MAX_TRACKED_BYTES  size limit in bytes (default 1048576)
#   ALLOW_FILE         paths (one a line, relative to the repo, # comments)
#                      that may contain NUL bytes; default
#                      hack/tracked-files-allow.txt. Executables and the size
#                      limit are never allowed.
set -euo pipefail

repo="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$repo"
max="${MAX_TRACKED_BYTES:-1048576}"
allow_file="${ALLOW_FILE:-hack/tracked-files-allow.txt}"

declare -A allowed=()
if [[ -f "$allow_file" ]]; then
	while IFS= read -r line; do
		line="${line%%#*}"
		line="${line%"${line##*[![:space:]]}"}"
		[[ -n "$line" ]] && allowed["$line"]=1
	done <"$allow_file"
fi

# The index's content, written out once: one process instead of several per
# file, and it checks what a commit holds even if the work tree differs.
snap="$(mktemp -d)"
trap 'rm -rf "$snap"' EXIT
git checkout-index --all --prefix="$snap/"
cd "$snap"

bad=0
fail() { printf '%s: %s\n' "$1" "$2" >&2; bad=1; }

# hex N FILE prints the first N bytes of FILE as lowercase hex.
hex() { od -An -tx1 -v -N "$1" -- "$2" | tr -d ' \n'; }

# kind FILE names the executable format of FILE, or prints nothing. "MZ" is
# only two bytes, so a PE also needs "PE\0\0" at the offset the DOS header
# names (e_lfanew at 0x3c, little-endian).
kind() {
	local h off
	h="$(hex 64 "$1")"
	case "$h" in
	7f454c46*) echo ELF; return ;;
	feedface* | feedfacf* | cefaedfe* | cffaedfe* | cafebabe*) echo Mach-O; return ;;
	esac
	if [[ "${h:0:4}" == 4d5a && ${#h} -eq 128 ]]; then
		off=$((16#${h:126:2}${h:124:2}${h:122:2}${h:120:2}))
		if [[ "$(od -An -tx1 -j "$off" -N 4 -- "$1" | tr -d ' \n')" == 50450000 ]]; then
			echo PE
		fi
	fi
}

while IFS= read -r -d '' f; do
	f="${f#./}"
	fail "$f" "$(stat -c %s -- "$f") bytes, more than the limit of $max"
done < <(find . -type f -size +"${max}"c -print0)

# Every executable format has NUL bytes in its header, so only files with
# NUL bytes need their magic read.
while IFS= read -r -d '' f; do
	f="${f#./}"
	k="$(kind "$f")"
	if [[ -n "$k" ]]; then
		fail "$f" "an executable ($k)"
	elif [[ -z "${allowed[$f]:-}" ]]; then
		fail "$f" "contains NUL bytes (binary); if it is a fixture, list it in $allow_file"
	fi
done < <(LC_ALL=C grep -rlZaP '\x00' . || true)

if ((bad)); then
	echo "Git must track only source: remove the files above (git rm --cached) and ignore them." >&2
	exit 1
fi
echo "tracked files: no executables, no binaries, none over $max bytes"

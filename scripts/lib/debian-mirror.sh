# shellcheck shell=sh
# Sourced by scripts/test-images.sh and scripts/test-rootfs.sh (POSIX sh).
#
# debian_mirror SUITE — print the Debian mirror this machine's apt already uses
# for SUITE (deb822 *.sources first, then one-line sources.list), or
# $AISTACK_TEST_MIRROR when set. Prints nothing when none is found. The mirror
# is never hard-coded: it is read from the machine's own configuration.

_mirror_from_deb822() {
    for _f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$_f" ] || continue
        awk -v suite="$1" '
            function flush() {
                if (uris != "" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ")) { split(uris, u, " "); print u[1]; exit }
                uris = ""; suites = ""; types = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            tolower($1) == "uris:"   { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
            tolower($1) == "suites:" { $1 = ""; suites = $0; sub(/^ +/, "", suites) }
            tolower($1) == "types:"  { $1 = ""; types = $0; sub(/^ +/, "", types) }
            END { flush() }
        ' "$_f"
    done
}

_mirror_from_list() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v suite="$1" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == suite) { print $i; exit } }'
}

debian_mirror() {
    _m=${AISTACK_TEST_MIRROR:-}
    [ -n "$_m" ] || _m=$(_mirror_from_deb822 "$1" | head -n1)
    [ -n "$_m" ] || _m=$(_mirror_from_list "$1" | head -n1)
    printf '%s\n' "$_m"
}

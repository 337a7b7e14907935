#!/bin/bash
# Installs Debian packages for the tests, whatever the machine already holds, and never by
# removing what is there (apt's --no-remove).
#
# usage: apt-install.sh PACKAGE...   (packages already installed are skipped)
#
# A package whose plain install conflicts with what is installed (seen: the image ships
# qemu-utils from bookworm-backports, which Breaks bookworm's qemu-system-x86) is installed
# from the suite's backports, added for the same mirror the machine already uses (read from
# its apt sources: no host name is written here) if it is not configured yet.
# A package that still cannot be installed is named with apt's reason, and the script stops
# with status 1.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=300 -o APT::Get::Always-Include-Phased-Updates=true)

need=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0

# apt's lists: fetched once per run of this script if they are missing or a day old.
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  "${APT[@]}" update -qq >/dev/null 2>&1 || "${APT[@]}" update -qq
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
bpo_list=/etc/apt/sources.list.d/berth-tests-backports.sources

# The URIs and key of the machine's own entry for its codename (deb822 .sources files, then
# one-line sources.list entries), printed as "URI|SIGNED_BY".
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v c="$codename" '
      function flush() { if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" c "( |$)") && uris != "") { split(uris, u, " "); print u[1] "|" key; found = 1; exit } types = suites = uris = key = "" }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); key = $0 }
      END { if (!found) flush() }' "$f"
  done | head -1 | grep . && return 0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v c="$codename" '$1 == "deb" {
        i = 2; key = ""
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\].*/, "", key) }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        if ($(i + 1) == c) { print $i "|" key; exit } }' "$f"
  done | head -1 | grep .
}

add_backports() {
  [ -n "$codename" ] || { echo "apt-install: no VERSION_CODENAME in /etc/os-release: cannot add backports" >&2; return 1; }
  if apt-cache policy 2>/dev/null | grep -q "a=$codename-backports\|n=$codename-backports"; then return 0; fi
  local m uri key
  m=$(mirror) || { echo "apt-install: no apt source for $codename found to take the mirror from" >&2; return 1; }
  uri=${m%%|*}; key=${m#*|}
  echo "apt-install: adding $codename-backports from $uri (the mirror of the machine's $codename entry)" >&2
  {
    echo "# Added by berth's integration-tests/apt-install.sh (same mirror as the $codename entry)."
    echo "Types: deb"; echo "URIs: $uri"; echo "Suites: $codename-backports"; echo "Components: main"
    [ -n "$key" ] && echo "Signed-By: $key"
  } > "$bpo_list"
  "${APT[@]}" update -qq >/dev/null 2>&1 || "${APT[@]}" update -qq || return 1
}

# apt's lines that say why (unmet dependencies, Breaks, missing packages).
why() { grep -E '^E:|Depends:|Breaks:|Conflicts:|PreDepends:|has no installation candidate|Unable to locate' | sed 's/^/  /' | head -12; }

out=$("${APT[@]}" install -y -qq --no-remove "${need[@]}" 2>&1 >/dev/null) && exit 0

# Which ones fail on their own, and was it a conflict with what is installed?
failed=()
for p in "${need[@]}"; do
  "${APT[@]}" install -s -qq --no-remove "$p" >/dev/null 2>&1 || failed+=("$p")
done
if [ ${#failed[@]} -eq 0 ]; then  # each alone is fine: a real failure of the group (disk, network)
  echo "apt-install: installing ${need[*]} failed:" >&2; echo "$out" | why >&2; exit 1
fi
ok=()
for p in "${need[@]}"; do [[ " ${failed[*]} " == *" $p "* ]] || ok+=("$p"); done
if [ ${#ok[@]} -gt 0 ]; then
  o=$("${APT[@]}" install -y -qq --no-remove "${ok[@]}" 2>&1 >/dev/null) || { echo "apt-install: installing ${ok[*]} failed:" >&2; echo "$o" | why >&2; exit 1; }
fi
add_backports || { echo "apt-install: cannot install ${failed[*]}:" >&2; echo "$out" | why >&2; exit 1; }
for p in "${failed[@]}"; do
  o=$("${APT[@]}" install -y -qq --no-remove -t "$codename-backports" "$p" 2>&1 >/dev/null) && {
    echo "apt-install: $p installed from $codename-backports" >&2; continue; }
  echo "apt-install: cannot install $p, neither from $codename nor from $codename-backports:" >&2
  echo "$out" | why >&2; echo "  from backports:" >&2; echo "$o" | why >&2
  exit 1
done
exit 0

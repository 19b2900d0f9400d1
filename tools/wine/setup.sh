#!/usr/bin/env bash
# Prepares a Wine prefix that runs Go >= 1.24 Windows binaries headless:
# wineboot, then a stand-in bcryptprimitives.dll exporting ProcessPrng
# (Wine 8.0 lacks it) built with mingw-w64 into the prefix's system32.
# Idempotent: a ready prefix is left as it is.
#
#   tools/wine/setup.sh DIR     # creates DIR/prefix; prints the WINEPREFIX
#
# Needs Debian packages: wine wine64 gcc-mingw-w64-x86-64-win32.
set -euo pipefail
dir=${1:?usage: setup.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir"
export WINEPREFIX=$(cd "$dir" && pwd)/prefix
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
stamp=$WINEPREFIX/.prexmon-ready
dll=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll

if [ ! -f "$stamp" ] || [ "$here/processprng.c" -nt "$stamp" ]; then
  if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
    wineboot --init >/dev/null 2>&1
    wineserver --wait
  fi
  x86_64-w64-mingw32-gcc -O2 -shared -o "$dll.tmp" \
    "$here/processprng.c" "$here/processprng.def" -ladvapi32
  mv "$dll.tmp" "$dll"
  touch "$stamp"
fi
echo "$WINEPREFIX"

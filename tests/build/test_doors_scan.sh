#!/bin/bash
# Every #include in the rooms against the table of architecture.md ("Rooms and doors"): a project
# header "room/file.h" only from a room the including room may use, an external library header only
# in the rooms whose row names that library. Fails naming file:line of each violation.
# The build enforces most doors (tests/build/doors/); this also covers headers on default include
# paths (lmdb.h, png.h, ...), which no include path can hide.
# First the scanner is run on a planted tree and must catch the plants; then on the source tree.
set -u
src=${M3AE_SOURCE_DIR:?}

# may_include <room> <included room or door>: the project doors.
may_include() {
  case "$1:$2" in
    *:common) return 0 ;;
    io:io | model:model | dist:dist | checkpoints:checkpoints | launch:*) return 0 ;;
    dist:model/registry.h | dist:model/config.h) return 0 ;;
    checkpoints:model/registry.h | checkpoints:model/config.h) return 0 ;;
  esac
  return 1
}

# external_rooms <header>: the rooms that may include an external library's header ("" = any room,
# the C library and POSIX).
external_rooms() {
  case "$1" in
    mpi.h) echo "dist launch" ;;
    hdf5.h | H5*.h) echo "checkpoints launch" ;;
    lmdb.h | tiffio.h | tiff.h | png.h | pngconf.h | jpeglib.h | jerror.h | utf8proc.h | zlib.h) echo "io launch" ;;
    cblas.h | omp.h) echo "model launch" ;;
    cuda*.h | cublas*.h | cublasLt.h) echo "model" ;;
    *) echo "" ;;
  esac
}

# scan <root>: prints "file:line: message" for each violation; returns 1 if any.
scan() {
  local root=$1 bad=0 file room line inc kind target allowed
  for room in common io model dist checkpoints launch; do
    [ -d "$root/$room" ] || continue
    while IFS= read -r file; do
      while IFS=: read -r line inc; do
        [[ $inc =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*([<\"])([^\>\"]+) ]] || continue
        kind=${BASH_REMATCH[1]}
        target=${BASH_REMATCH[2]}
        if [ "$kind" = '"' ]; then
          local door=${target%%/*}
          if [ "$door" = "$target" ]; then
            echo "${file#$root/}:$line: #include \"$target\" does not name its room (write \"room/$target\")"
            bad=1; continue
          fi
          case "$target" in model/registry.h | model/config.h) door=$target ;; esac
          if ! may_include "$room" "$door" && ! may_include "$room" "${target%%/*}"; then
            echo "${file#$root/}:$line: $room/ may not include \"$target\" (architecture.md, Rooms and doors)"
            bad=1
          fi
        else
          allowed=$(external_rooms "$(basename "$target")")
          if [ -n "$allowed" ] && ! grep -qw "$room" <<<"$allowed"; then
            echo "${file#$root/}:$line: $room/ may not include <$target> (only: $allowed)"
            bad=1
          fi
        fi
      done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$file")
    done < <(find "$root/$room" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.h.in' \) | sort)
  done
  return $bad
}

fail=0
# 1. the scanner catches plants (and names file:line), and lets allowed includes through
plant=$(mktemp -d /tmp/m3ae-doors-XXXXXX)
trap 'rm -rf "$plant"' EXIT
mkdir -p "$plant/io" "$plant/model/cpu" "$plant/checkpoints" "$plant/dist"
printf '#include "common/error.h"\n#include "io/shard.h"\n#include "model/m3ae.h"\n' >"$plant/io/a.c"
printf '#include <math.h>\n#include <lmdb.h>\n' >"$plant/model/cpu/b.c"
printf '#include "model/registry.h"\n  #  include "model/optimizer.h"\n#include <mpi.h>\n' >"$plant/checkpoints/c.c"
printf '#include <mpi.h>\n#include "model/config.h"\n#include "dist/dist.h"\n' >"$plant/dist/d.c"
out=$(scan "$plant"); rc=$?
want=("io/a.c:3:" "model/cpu/b.c:2:" "checkpoints/c.c:2:" "checkpoints/c.c:3:")
for w in "${want[@]}"; do
  if ! grep -q "^$w" <<<"$out"; then echo "FAIL: the scanner missed the planted violation $w"; fail=1; fi
done
n=$(grep -c . <<<"$out")
if [ $rc -eq 0 ] || [ "$n" -ne ${#want[@]} ]; then
  echo "FAIL: on the planted tree: rc=$rc, $n violations, expected ${#want[@]}:"; echo "$out"; fail=1
else
  echo "ok: the scanner finds the ${#want[@]} planted violations and only them"
fi

# 2. the source tree
out=$(scan "$src"); rc=$?
if [ $rc -ne 0 ]; then
  echo "FAIL: includes that break the doors of architecture.md:"; echo "$out"; fail=1
else
  echo "ok: every #include of common/ io/ model/ dist/ checkpoints/ launch/ keeps to its doors"
fi
[ $fail -eq 0 ] && echo "door scan passed"
exit $fail

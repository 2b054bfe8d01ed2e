# common.sh - sourced by bench/photopipe's scripts, which set root, work,
# count and size first.
#   pp_binary TAG: sets pp to $PHOTOPIPE, or builds photopipe (Release) in
#                  $work/build;
#   pp_corpus TAG: sets corpus to $work/corpus-$count-$size, generating the
#                  photos once (kept between runs).

pp_binary() {
  pp=${PHOTOPIPE:-}
  [ -z "$pp" ] || return 0
  echo "$1: building photopipe (Release) in $work/build" >&2
  { cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCV_BUILD_TESTS=OFF \
      -DCV_BUILD_EXAMPLES=OFF -DCV_BUILD_PHOTOPIPE=ON &&
    cmake --build "$work/build" -j"${JOBS:-2}" --target photopipe; } >"$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; exit 1; }
  pp=$work/build/apps/photopipe/photopipe
}

pp_corpus() {
  corpus=$work/corpus-$count-$size
  [ "$(ls "$corpus" 2>/dev/null | wc -l)" != "$count" ] || return 0
  echo "$1: generating $count photos of $size in $corpus" >&2
  rm -rf "$corpus"
  "$pp" corpus "$corpus" --count "$count" --photo-size "$size" --quiet
}

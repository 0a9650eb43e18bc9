#!/usr/bin/env bash
# Prepares the LLVM that the `cpu` (CubeCL CPU) and `cuda` cargo features need, from PyPI, so
# that `cargo build --release --features cpu,cuda` builds with no network beyond the package
# registries (crates.io, PyPI).
#
#   scripts/offline-llvm.sh           set it up (idempotent: a second run changes nothing)
#   scripts/offline-llvm.sh --check   only say whether it is set up (exit 1 when not)
#
# Why: cubecl-cpu and cubecl-cuda depend on cubecl-llvm, whose build dependency
# tracel-llvm-bundler 23.1.0-4 downloads an LLVM bundle from GitHub in its build script. That
# build script does nothing when
#     <data dir>/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed
# exists (<data dir> is $XDG_DATA_HOME, default ~/.local/share, on Linux), and the build then only
# runs that folder's `bin/llvm-config`. PyPI's mlc-llvm-static + mlc-llvm-static-extra-targets
# 23.1.1.post0 are a relocatable static LLVM 23.1.1 with every target (NVPTX included) and a
# Python `llvm-config`: this script installs them (pip --target) beside that folder, links the
# folder to their `static/` tree and creates the marker file.
#
# Online, none of this is needed: the bundler downloads its own LLVM on the first build.
# Needs: python3 with pip on PATH (the build runs the Python `llvm-config` too), a C/C++
# compiler (for cubecl-llvm's small C++ shims), about 400 MB of disk.
set -euo pipefail

BUNDLE_VERSION="23.1.0-4"   # tracel-llvm-bundler's TRACEL_LLVM_FULL_VERSION (see Cargo.lock)
SDK_VERSION="23.1.1.post0"  # mlc-llvm-static on PyPI
PACKAGES=("mlc-llvm-static==$SDK_VERSION" "mlc-llvm-static-extra-targets==$SDK_VERSION")

say() { echo "offline-llvm: $*"; }
die() {
  echo "offline-llvm: error: $*" >&2
  exit 1
}

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h | --help)
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument '$1' (usage: $0 [--check])" ;;
esac

# The bundler version this checkout builds with, when Cargo.lock names it.
lock="$(cd "$(dirname "$0")/.." && pwd)/Cargo.lock"
if [ -f "$lock" ]; then
  locked="$(awk '/^name = "tracel-llvm-bundler"$/ { getline; gsub(/version = |"/, ""); print }' "$lock")"
  if [ -n "$locked" ] && [ "$locked" != "$BUNDLE_VERSION" ]; then
    die "Cargo.lock uses tracel-llvm-bundler $locked but this script prepares $BUNDLE_VERSION; update BUNDLE_VERSION (and check that an LLVM of the same major version is on PyPI)"
  fi
fi

# dirs::data_local_dir(), as the bundler's build script computes it.
case "$(uname -s)" in
  Linux)
    if [ -n "${XDG_DATA_HOME:-}" ] && [ "${XDG_DATA_HOME:0:1}" = "/" ]; then
      data_dir="$XDG_DATA_HOME"
    else
      data_dir="${HOME:?HOME is not set}/.local/share"
    fi
    ;;
  Darwin) data_dir="${HOME:?HOME is not set}/Library/Application Support" ;;
  *) die "unsupported system $(uname -s): use the online route (the bundler downloads LLVM itself)" ;;
esac

tracel_dir="$data_dir/tracel"
bundle_dir="$tracel_dir/tracel-llvm-$BUNDLE_VERSION"
sentinel="$bundle_dir/.tracel-llvm-installed"
sdk_dir="$tracel_dir/mlc-llvm-static-$SDK_VERSION"
static_dir="$sdk_dir/mlc_llvm_static/static"

command -v python3 >/dev/null 2>&1 ||
  die "python3 is not on PATH: the PyPI LLVM's llvm-config is a Python script, needed here and by every cargo build with the cpu or cuda feature"

# Whether DIR/bin/llvm-config answers like the LLVM the build needs; prints why not.
llvm_config_ok() {
  local config="$1/bin/llvm-config" version targets
  [ -x "$config" ] || {
    echo "no executable $config"
    return 1
  }
  version="$("$config" --version 2>&1)" || {
    echo "$config --version failed: $version"
    return 1
  }
  targets="$("$config" --targets-built 2>&1)" || {
    echo "$config --targets-built failed: $targets"
    return 1
  }
  case " $targets " in
    *" X86 "* | *" AArch64 "*) ;;
    *)
      echo "$config has no host target (targets: $targets)"
      return 1
      ;;
  esac
  case " $targets " in
    *" NVPTX "*) ;;
    *)
      echo "$config has no NVPTX target, needed by the cuda feature (targets: $targets)"
      return 1
      ;;
  esac
  "$config" --link-static --libs >/dev/null 2>&1 || {
    echo "$config --link-static --libs failed"
    return 1
  }
  [ "${version%%.*}" = "${BUNDLE_VERSION%%.*}" ] || {
    echo "$config is LLVM $version, the bundler expects ${BUNDLE_VERSION%%-*}"
    return 1
  }
  echo "LLVM $version, targets: $targets"
}

# 1. Already done?
if [ -L "$bundle_dir" ] && [ "$(readlink "$bundle_dir")" = "$static_dir" ] && [ -e "$sentinel" ]; then
  if why="$(llvm_config_ok "$bundle_dir")"; then
    say "already set up, nothing changed: $bundle_dir -> $static_dir ($why)"
    exit 0
  fi
  [ "$check_only" = 1 ] && die "set up but broken: $why; rerun $0 to repair"
  say "the link is there but the LLVM behind it is broken ($why): reinstalling"
elif [ -d "$bundle_dir" ] && [ ! -L "$bundle_dir" ] && [ -e "$sentinel" ]; then
  # The online route already ran: the bundler downloaded and installed its own LLVM.
  say "tracel-llvm $BUNDLE_VERSION is already installed at $bundle_dir (downloaded by the bundler), nothing changed"
  exit 0
elif [ -L "$bundle_dir" ] && [ "$(readlink "$bundle_dir")" = "$static_dir" ]; then
  [ "$check_only" = 1 ] && die "not set up: $sentinel is missing; run $0"
  say "the link is there but not the marker file (an interrupted run?): finishing the setup"
elif [ -e "$bundle_dir" ] || [ -L "$bundle_dir" ]; then
  die "$bundle_dir exists but is not a finished install (no marker file, or a link elsewhere: $(readlink "$bundle_dir" 2>/dev/null || echo 'a folder')); remove it and run $0 again"
fi
[ "$check_only" = 1 ] && die "not set up: $sentinel is missing; run $0"

# 2. Install the PyPI LLVM (once; a failed install leaves nothing behind).
if why="$(llvm_config_ok "$static_dir")"; then
  say "using the LLVM already installed in $sdk_dir ($why)"
else
  python3 -m pip --version >/dev/null 2>&1 ||
    die "python3 has no pip (python3 -m pip); install it (Debian: apt-get install python3-pip) and run $0 again"
  mkdir -p "$tracel_dir"
  staging="$(mktemp -d "$tracel_dir/.mlc-llvm-static-XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  say "installing ${PACKAGES[*]} from PyPI into $sdk_dir (about 90 MB download, 400 MB on disk)"
  if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
    --target "$staging" "${PACKAGES[@]}"; then
    die "pip could not install ${PACKAGES[*]}: check that PyPI (or your PyPI mirror, PIP_INDEX_URL) is reachable, or install them elsewhere with 'pip install --target DIR' and copy DIR to $sdk_dir"
  fi
  why="$(llvm_config_ok "$staging/mlc_llvm_static/static")" ||
    die "the installed LLVM does not work: $why"
  chmod 755 "$staging"
  rm -rf "$sdk_dir"
  mv "$staging" "$sdk_dir"
  trap - EXIT
  say "installed $why"
fi

# 3. Point the bundler at it.
rm -f "$bundle_dir" # a broken link of ours, from step 1
ln -s "$static_dir" "$bundle_dir"
touch "$sentinel"
say "linked $bundle_dir -> $static_dir"
say "created $sentinel"
say "done: cargo build --release --features cpu,cuda now builds without downloading LLVM"
say "(the cuda feature needs no CUDA toolkit to build: zoo-train pins cudarc's CUDA 12.8 bindings, and the CUDA libraries are loaded at run time)"

#!/bin/sh
# aistack installer: puts the `aistack` command on this machine, in a virtual
# environment of its own, with every package's sha256 verified.
#
#   sh install.sh [--up]                         from a checkout of the repository
#   curl -fsSL <release>/install.sh | sh -s -- --up     a release's copy, piped
#
# Options:
#   --up              run `aistack up` at the end (a working endpoint in one line)
#   --wheels DIR      offline: take every package from DIR (pip --no-index
#                     --find-links DIR); make DIR with scripts/wheelhouse.sh
#   --python PATH     use this interpreter (>= 3.10, with venv) instead of searching
#   --uninstall       remove the virtual environment and the command link
#   --purge-models    with --uninstall: also delete the downloaded models
#   -h, --help        this text
#
# Where it installs (never into the system Python's packages):
#   as root:   /opt/aistack/venv, linked from /usr/local/bin/aistack
#   as a user: ${XDG_DATA_HOME:-~/.local/share}/aistack/venv, linked from ~/.local/bin/aistack
#   (AISTACK_INSTALL_VENV and AISTACK_INSTALL_BIN_DIR override the two paths)
#
# What it installs:
#   runtime dependencies  exactly the versions and sha256 hashes in requirements.lock
#                         (pip install --require-hashes)
#   aistack itself        from a checkout: a wheel built from that checkout
#                         (pip wheel --no-deps); from a release's install.sh: the
#                         release wheel at AISTACK_RELEASE_URL, whose sha256 (and the
#                         lock's) scripts/release.sh wrote into that copy of this file
# Running it again upgrades what changed or says there is nothing to do. It never
# touches aistack's config, state, models or systemd drop-ins, and it never
# installs GPU drivers: it prints what the machine would need instead.
#
# Exit codes:
#   0   installed, upgraded, nothing to do, or uninstalled
#   1   unexpected failure (a command failed; its output is above)
#   2   usage error (unknown option, bad argument)
#   20  unsupported operating system or architecture
#   21  no Python >= 3.10 with the venv module (the message says how to get one here)
#   22  a package or file could not be fetched or did not match its pinned sha256
#   23  pip could not install the locked packages into the virtual environment
#   24  a file is in the way (the command link exists and is not ours); nothing changed
#   25  installed, but `aistack up` (from --up) failed; its exit code is printed
#   130 interrupted

ai_pins() {
    AI_VERSION="0.1.0"
    AI_RELEASE_URL=""            # @release base URL of the release files
    AI_RELEASE_WHEEL_SHA256=""   # @release sha256 of aistack-<version>-py3-none-any.whl
    AI_RELEASE_LOCK_SHA256=""    # @release sha256 of aistack-<version>-requirements.lock
}

ai_say() { printf '%s\n' "$*"; }
ai_detected() { printf '  detected  %s\n' "$*"; }
ai_did() { printf '  did       %s\n' "$*"; }
ai_next() { printf '  next      %s\n' "$*"; }
ai_warn() { printf '  warning   %s\n' "$*" >&2; }
ai_die() {
    ai_code=$1
    shift
    printf 'error: %s\n' "$*" >&2
    exit "$ai_code"
}

ai_usage() {
    # The comment block at the top of this file is the help text.
    if [ -f "$0" ] && head -n 2 "$0" | grep -q 'aistack installer'; then
        sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
    else
        ai_say "usage: install.sh [--up] [--wheels DIR] [--python PATH] [--uninstall [--purge-models]]"
    fi
}

# Small jobs that need no tool beyond the Python we install with.
ai_pyhelper() {
    "$AI_PY" - "$@" <<'PYEOF'
import hashlib, os, sys, urllib.request

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

op, args = sys.argv[1], sys.argv[2:]
if op == "sha256":
    print(sha256(args[0]))
elif op == "tree":
    # Content hash of the files a wheel is built from (paths, link targets, bytes).
    root = args[0]
    h = hashlib.sha256()
    for top in ["pyproject.toml", "README.md", "aistack", "recipes", "systemd"]:
        base = os.path.join(root, top)
        paths = [base] if not os.path.isdir(base) else []
        for d, dirs, files in os.walk(base):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__" and not x.endswith(".egg-info"))
            paths += [os.path.join(d, x) for x in sorted(files + [x for x in os.listdir(d) if os.path.islink(os.path.join(d, x)) and os.path.isdir(os.path.join(d, x))]) if not x.endswith(".pyc")]
        for p in paths:
            if not os.path.lexists(p):
                continue
            h.update(os.path.relpath(p, root).encode() + b"\0")
            if os.path.islink(p):
                h.update(b"link:" + os.readlink(p).encode())
            else:
                h.update(sha256(p).encode())
    print(h.hexdigest())
elif op == "fetch":
    url, dest, want = args
    tmp = dest + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as f:
            while True:
                block = r.read(1 << 20)
                if not block:
                    break
                f.write(block)
    except Exception as e:
        sys.exit("could not download %s: %s" % (url, e))
    got = sha256(tmp)
    if got != want:
        os.unlink(tmp)
        sys.exit("%s: sha256 %s does not match the pinned %s; the file was deleted" % (url, got, want))
    os.replace(tmp, dest)
elif op == "models-dir":
    from aistack.paths import dirs
    d = dirs()
    print(d.models)
elif op == "dirs":
    from aistack.paths import dirs
    d = dirs()
    print("config %s\nstate %s\nmodels %s\nstatefile %s" % (d.config, d.state, d.models, d.state_file))
PYEOF
}

ai_parse_args() {
    AI_UP=0
    AI_WHEELS=""
    AI_PYTHON_ARG=""
    AI_UNINSTALL=0
    AI_PURGE=0
    while [ $# -gt 0 ]; do
        case $1 in
            --up) AI_UP=1 ;;
            --wheels)
                [ $# -ge 2 ] || ai_die 2 "--wheels needs a directory (see --help)"
                AI_WHEELS=$2
                shift
                ;;
            --wheels=*) AI_WHEELS=${1#--wheels=} ;;
            --python)
                [ $# -ge 2 ] || ai_die 2 "--python needs a path (see --help)"
                AI_PYTHON_ARG=$2
                shift
                ;;
            --python=*) AI_PYTHON_ARG=${1#--python=} ;;
            --uninstall) AI_UNINSTALL=1 ;;
            --purge-models) AI_PURGE=1 ;;
            -h | --help)
                ai_usage
                exit 0
                ;;
            *) ai_die 2 "unknown option '$1' (see: sh install.sh --help)" ;;
        esac
        shift
    done
    if [ "$AI_PURGE" = 1 ] && [ "$AI_UNINSTALL" = 0 ]; then
        ai_die 2 "--purge-models only goes with --uninstall"
    fi
    if [ "$AI_UNINSTALL" = 1 ] && { [ "$AI_UP" = 1 ] || [ -n "$AI_WHEELS" ]; }; then
        ai_die 2 "--uninstall does not combine with --up or --wheels"
    fi
    if [ -n "$AI_WHEELS" ]; then
        [ -d "$AI_WHEELS" ] || ai_die 2 "--wheels $AI_WHEELS: no such directory"
        AI_WHEELS=$(cd "$AI_WHEELS" && pwd)
    fi
}

ai_os_release() {
    # One key of /etc/os-release, unquoted (read, never executed).
    [ -r /etc/os-release ] || return 0
    sed -n "s/^$1=//p" /etc/os-release | head -n 1 | tr -d '"'"'"
}

ai_detect() {
    AI_OS=$(uname -s)
    AI_ARCH=$(uname -m)
    case $AI_OS in
        Linux | Darwin) ;;
        *) ai_die 20 "unsupported operating system '$AI_OS': aistack runs on Linux (including WSL2) and macOS. Nothing was changed." ;;
    esac
    case $AI_ARCH in
        x86_64 | amd64) AI_ARCH=x86_64 ;;
        aarch64 | arm64) ;;
        *) ai_die 20 "unsupported architecture '$AI_ARCH': aistack supports x86_64 and arm64. Nothing was changed." ;;
    esac

    AI_DISTRO=""
    AI_DISTRO_LIKE=""
    AI_DISTRO_NAME=""
    if [ "$AI_OS" = Darwin ]; then
        AI_DISTRO=macos
        AI_DISTRO_NAME="macOS $(sw_vers -productVersion 2>/dev/null || true)"
    else
        AI_DISTRO=$(ai_os_release ID)
        AI_DISTRO_LIKE=$(ai_os_release ID_LIKE)
        AI_DISTRO_NAME=$(ai_os_release PRETTY_NAME)
    fi

    AI_WSL=0
    if [ -r /proc/sys/kernel/osrelease ] && grep -qi microsoft /proc/sys/kernel/osrelease; then
        AI_WSL=1
    fi

    if [ "$AI_OS" = Darwin ]; then
        AI_INIT=launchd
    elif [ -d /run/systemd/system ]; then
        AI_INIT=systemd
    else
        AI_INIT=$(cat /proc/1/comm 2>/dev/null || echo unknown)
    fi

    AI_CONTAINER=""
    if [ -f /.dockerenv ] || [ -f /run/.containerenv ]; then
        AI_CONTAINER=" (inside a container)"
    fi

    if [ "$(id -u)" = 0 ]; then
        AI_ROOT=1
        AI_WHO=root
    else
        AI_ROOT=0
        AI_WHO="user $(id -un 2>/dev/null || id -u)"
    fi

    ai_wsl_note=""
    [ "$AI_WSL" = 1 ] && ai_wsl_note=", WSL2"
    ai_detected "$AI_OS $AI_ARCH, ${AI_DISTRO_NAME:-unknown distribution}${ai_wsl_note}${AI_CONTAINER}"
    ai_detected "init system $AI_INIT; running as $AI_WHO"
}

# PCI display devices of one vendor (0x10de NVIDIA, 0x1002 AMD), from sysfs.
ai_pci_gpu() {
    for ai_dev in /sys/bus/pci/devices/*; do
        { [ -r "$ai_dev/vendor" ] && [ -r "$ai_dev/class" ]; } || continue
        if [ "$(cat "$ai_dev/vendor")" = "$1" ]; then
            case $(cat "$ai_dev/class") in 0x03*) return 0 ;; esac
        fi
    done
    return 1
}

# What the GPU would need. Reported, never installed.
ai_detect_gpu() {
    if [ "$AI_OS" = Darwin ]; then
        if [ "$AI_ARCH" = arm64 ]; then
            ai_detected "Apple Silicon GPU (Metal; nothing to install)"
        else
            ai_detected "Intel Mac: CPU serving"
        fi
        return 0
    fi
    ai_gpu=0
    ai_nv_driver=0
    if [ -r /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null 2>&1; then
        ai_nv_driver=1
    fi
    if [ "$ai_nv_driver" = 1 ]; then
        ai_gpu=1
        ai_detected "NVIDIA driver present"
        if command -v docker >/dev/null 2>&1 && ! command -v nvidia-ctk >/dev/null 2>&1 \
            && ! command -v nvidia-container-runtime >/dev/null 2>&1; then
            ai_warn "Docker is installed but the NVIDIA Container Toolkit is not: containers would not see the GPU."
            ai_warn "  not installed by this script; for --runtime docker install nvidia-container-toolkit from NVIDIA's repository"
        fi
    elif ai_pci_gpu 0x10de; then
        ai_gpu=1
        ai_warn "an NVIDIA GPU is present but its driver is not loaded: aistack will serve on the CPU."
        ai_warn "  not installed by this script; install the NVIDIA driver from your distribution, reboot, run aistack up again"
    fi
    if [ -e /dev/kfd ]; then
        ai_gpu=1
        ai_detected "AMD GPU with the ROCm kernel driver (/dev/kfd)"
    elif ai_pci_gpu 0x1002; then
        ai_gpu=1
        ai_detected "AMD GPU without /dev/kfd: ROCm needs the amdgpu kernel driver (not installed by this script)"
    fi
    if [ "$AI_WSL" = 1 ] && [ "$ai_nv_driver" = 0 ] && [ -e /usr/lib/wsl/lib/libcuda.so.1 ]; then
        ai_detected "WSL2 GPU bridge (/usr/lib/wsl/lib)"
    fi
    if [ "$ai_gpu" = 0 ]; then
        ai_detected "no GPU: aistack will serve on the CPU"
    fi
}

# llama-server is built from pinned source when no prebuilt build fits the machine:
# say which tools that needs when they are missing (never installed from here).
ai_detect_build_tools() {
    ai_missing=""
    command -v cmake >/dev/null 2>&1 || ai_missing="$ai_missing cmake"
    command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 \
        || ai_missing="$ai_missing c++"
    command -v make >/dev/null 2>&1 || command -v ninja >/dev/null 2>&1 || ai_missing="$ai_missing make"
    if [ -z "$ai_missing" ]; then
        ai_detected "build tools for llama-server (cmake, a C++ compiler, make)"
        return 0
    fi
    ai_s=$(ai_sudo)
    case " $AI_DISTRO $AI_DISTRO_LIKE " in
        *" macos "*) ai_cmd="xcode-select --install && brew install cmake" ;;
        *" debian "* | *" ubuntu "*) ai_cmd="${ai_s}apt-get install -y cmake g++ make" ;;
        *" fedora "* | *" rhel "* | *" centos "*) ai_cmd="${ai_s}dnf install -y cmake gcc-c++ make" ;;
        *" arch "*) ai_cmd="${ai_s}pacman -S --needed cmake gcc make" ;;
        *" alpine "*) ai_cmd="${ai_s}apk add cmake g++ make" ;;
        *" suse "* | *" opensuse "*) ai_cmd="${ai_s}zypper install -y cmake gcc-c++ make" ;;
        *) ai_cmd="install cmake, a C++ compiler and make" ;;
    esac
    ai_warn "missing build tools:$ai_missing. 'aistack up' builds llama-server from source when no"
    ai_warn "  prebuilt one fits this machine; that would need:  $ai_cmd"
}

ai_sudo() {
    [ "$AI_ROOT" = 1 ] || printf 'sudo '
}

# The precise command that gets a suitable Python on this distribution.
ai_python_advice() {
    ai_s=$(ai_sudo)
    ai_family="$AI_DISTRO $AI_DISTRO_LIKE"
    case " $ai_family " in
        *" macos "*) echo "brew install python@3.12     (or the installer from the Python website)" ;;
        *" debian "* | *" ubuntu "*)
            if [ -n "${1:-}" ]; then
                echo "${ai_s}apt-get install -y python3-venv python$1-venv"
            else
                echo "${ai_s}apt-get update && ${ai_s}apt-get install -y python3 python3-venv"
            fi
            ;;
        *" fedora "*) echo "${ai_s}dnf install -y python3" ;;
        *" rhel "* | *" centos "* | *" rocky "* | *" almalinux "*) echo "${ai_s}dnf install -y python3.11" ;;
        *" arch "* | *" manjaro "*) echo "${ai_s}pacman -S --needed python" ;;
        *" alpine "*) echo "${ai_s}apk add python3" ;;
        *" suse "* | *" opensuse "* | *" sles "*) echo "${ai_s}zypper install -y python311" ;;
        *) echo "install Python 3.10 or newer, with its venv module, from your distribution's packages" ;;
    esac
}

ai_find_python() {
    AI_PY=""
    ai_seen=""
    ai_novenv_ver=""
    if [ -n "$AI_PYTHON_ARG" ]; then
        ai_candidates=$AI_PYTHON_ARG
    else
        ai_candidates="${AISTACK_PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10"
    fi
    for ai_c in $ai_candidates; do
        ai_p=$(command -v "$ai_c" 2>/dev/null) || continue
        ai_v=$("$ai_p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
        if ! "$ai_p" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            ai_seen="$ai_seen; $ai_p is $ai_v (too old)"
            continue
        fi
        if ! "$ai_p" -c 'import venv, ensurepip' 2>/dev/null; then
            ai_seen="$ai_seen; $ai_p $ai_v has no venv/ensurepip module"
            ai_novenv_ver=$ai_v
            continue
        fi
        AI_PY=$ai_p
        AI_PY_VERSION=$("$ai_p" -c 'import platform; print(platform.python_version())')
        AI_PY_ID=$("$ai_p" -c "$AI_PY_ID_CODE")
        ai_detected "Python $AI_PY_VERSION at $AI_PY"
        return 0
    done
    if [ -n "$AI_PYTHON_ARG" ]; then
        ai_what="--python $AI_PYTHON_ARG is not a Python >= 3.10 with the venv module${ai_seen:+ (${ai_seen#; })}"
    else
        ai_what="no Python >= 3.10 with the venv module found (looked for: $(echo "$ai_candidates" | sed 's/^ *//'))${ai_seen:+; found: ${ai_seen#; }}"
    fi
    ai_die 21 "$ai_what.
  Nothing was installed. On ${AI_DISTRO_NAME:-this system}, get one with:
      $(ai_python_advice "$ai_novenv_ver")
  then run this installer again (or point it at an interpreter with --python PATH)."
}

ai_paths() {
    if [ "$AI_ROOT" = 1 ]; then
        AI_VENV=${AISTACK_INSTALL_VENV:-/opt/aistack/venv}
        AI_BIN_DIR=${AISTACK_INSTALL_BIN_DIR:-/usr/local/bin}
    else
        [ -n "${HOME:-}" ] || ai_die 1 "HOME is not set; cannot choose where to install"
        AI_VENV=${AISTACK_INSTALL_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/aistack/venv}
        AI_BIN_DIR=${AISTACK_INSTALL_BIN_DIR:-$HOME/.local/bin}
    fi
    AI_LINK=$AI_BIN_DIR/aistack
    AI_TARGET=$AI_VENV/bin/aistack
    AI_MARKER=$AI_VENV/aistack-install.txt
}

# Is the command link ours (absent, or a symlink to our venv)? Refuse anything else.
ai_check_link() {
    if [ -L "$AI_LINK" ]; then
        ai_cur=$(readlink "$AI_LINK")
        [ "$ai_cur" = "$AI_TARGET" ] && return 0
        ai_die 24 "$AI_LINK already points to $ai_cur, not to $AI_TARGET.
  Nothing was changed. If that is an older aistack you no longer want, remove the link
  (rm $AI_LINK) and run this installer again."
    elif [ -e "$AI_LINK" ]; then
        ai_die 24 "$AI_LINK exists and was not made by this installer.
  Nothing was changed. Move it away (mv $AI_LINK $AI_LINK.old) and run this installer again."
    fi
}

# The directory holding install.sh when it is run from a checkout, else empty.
ai_checkout() {
    AI_CHECKOUT=""
    case $0 in
        */install.sh | install.sh) ;;
        *) return 0 ;;
    esac
    ai_dir=$(cd "$(dirname "$0")" 2>/dev/null && pwd) || return 0
    if [ -f "$ai_dir/pyproject.toml" ] && [ -f "$ai_dir/requirements.lock" ] && [ -d "$ai_dir/aistack" ] \
        && grep -q '^name = "aistack"' "$ai_dir/pyproject.toml"; then
        AI_CHECKOUT=$ai_dir
    fi
}

ai_pip() {
    # The venv's own pip; the machine's pip configuration (mirrors, certificates) applies.
    # No cache: nothing is left outside the venv.
    if [ -n "$AI_WHEELS" ]; then
        PIP_NO_CACHE_DIR=1 "$AI_VENV/bin/python" -m pip --disable-pip-version-check --no-input -q \
            "$@" --no-index --find-links "$AI_WHEELS"
    else
        PIP_NO_CACHE_DIR=1 "$AI_VENV/bin/python" -m pip --disable-pip-version-check --no-input -q "$@"
    fi
}

# Decide where the lock and the aistack wheel come from; sets AI_LOCK, AI_KEY, AI_SOURCE.
ai_sources() {
    AI_WHEEL=""
    if [ -n "$AI_CHECKOUT" ]; then
        AI_LOCK=$AI_CHECKOUT/requirements.lock
        AI_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$AI_CHECKOUT/pyproject.toml" | head -n 1)
        if [ -n "$AI_WHEELS" ] && [ -f "$AI_WHEELS/aistack-$AI_VERSION-py3-none-any.whl" ]; then
            AI_WHEEL=$AI_WHEELS/aistack-$AI_VERSION-py3-none-any.whl
            AI_SOURCE="wheel $AI_WHEEL (offline)"
            AI_KEY="wheel:$(ai_pyhelper sha256 "$AI_WHEEL")"
        else
            AI_SOURCE="checkout $AI_CHECKOUT"
            AI_KEY="tree:$(ai_pyhelper tree "$AI_CHECKOUT")"
        fi
    else
        if [ -z "$AI_RELEASE_WHEEL_SHA256" ] || [ -z "$AI_RELEASE_LOCK_SHA256" ]; then
            ai_die 22 "this copy of install.sh is neither in a checkout nor a release build (no pinned wheel sha256).
  Nothing was installed. Run it from a clone of the repository (sh install.sh), or use the
  install.sh published with a release (made by scripts/release.sh)."
        fi
        ai_name=aistack-$AI_VERSION-py3-none-any.whl
        ai_lockname=aistack-$AI_VERSION-requirements.lock
        AI_LOCK=$AI_TMP/$ai_lockname
        if [ -n "$AI_WHEELS" ]; then
            [ -f "$AI_WHEELS/$ai_name" ] || ai_die 22 "$AI_WHEELS has no $ai_name. Nothing was installed. Make the directory with scripts/wheelhouse.sh."
            [ -f "$AI_WHEELS/$ai_lockname" ] || ai_die 22 "$AI_WHEELS has no $ai_lockname. Nothing was installed. Make the directory with scripts/wheelhouse.sh."
            AI_WHEEL=$AI_WHEELS/$ai_name
            cp "$AI_WHEELS/$ai_lockname" "$AI_LOCK"
            ai_got=$(ai_pyhelper sha256 "$AI_LOCK")
            [ "$ai_got" = "$AI_RELEASE_LOCK_SHA256" ] || ai_die 22 "$AI_WHEELS/$ai_lockname: sha256 $ai_got does not match the pinned $AI_RELEASE_LOCK_SHA256. Nothing was installed."
            ai_got=$(ai_pyhelper sha256 "$AI_WHEEL")
            [ "$ai_got" = "$AI_RELEASE_WHEEL_SHA256" ] || ai_die 22 "$AI_WHEEL: sha256 $ai_got does not match the pinned $AI_RELEASE_WHEEL_SHA256. Nothing was installed."
            AI_SOURCE="release $AI_VERSION from $AI_WHEELS (offline)"
        else
            ai_base=${AISTACK_RELEASE_URL:-$AI_RELEASE_URL}
            [ -n "$ai_base" ] || ai_die 22 "no release URL: set AISTACK_RELEASE_URL to the directory holding $ai_name. Nothing was installed."
            ai_pyhelper fetch "$ai_base/$ai_lockname" "$AI_LOCK" "$AI_RELEASE_LOCK_SHA256" || ai_die 22 "the lock file could not be fetched or verified (above). Nothing was installed."
            AI_WHEEL=$AI_TMP/$ai_name
            ai_pyhelper fetch "$ai_base/$ai_name" "$AI_WHEEL" "$AI_RELEASE_WHEEL_SHA256" || ai_die 22 "the aistack wheel could not be fetched or verified (above). Nothing was installed."
            AI_SOURCE="release $AI_VERSION from $ai_base"
        fi
        AI_KEY="wheel:$AI_RELEASE_WHEEL_SHA256"
    fi
    AI_KEY="version=$AI_VERSION $AI_KEY lock:$(ai_pyhelper sha256 "$AI_LOCK") python:$AI_PY_ID"
}

ai_build_wheel() {
    # Build from a copy: the checkout may be read-only, and in-tree builds leave files behind.
    mkdir -p "$AI_TMP/src" "$AI_TMP/wheel"
    for ai_f in pyproject.toml README.md LICENSE aistack recipes systemd; do
        [ -e "$AI_CHECKOUT/$ai_f" ] && cp -R "$AI_CHECKOUT/$ai_f" "$AI_TMP/src/"
    done
    ai_pip wheel --no-deps -w "$AI_TMP/wheel" "$AI_TMP/src" \
        || ai_die 23 "building the aistack wheel from $AI_CHECKOUT failed (pip's output is above)."
    AI_WHEEL=$(ls "$AI_TMP"/wheel/aistack-*.whl)
}

ai_install() {
    ai_check_link
    ai_sources
    ai_detected "aistack $AI_VERSION from $AI_SOURCE"

    if [ -f "$AI_MARKER" ] && [ "$(sed -n 's/^key=//p' "$AI_MARKER")" = "$AI_KEY" ] \
        && "$AI_TARGET" --version >/dev/null 2>&1; then
        ai_did "nothing: aistack $AI_VERSION is already installed in $AI_VENV"
        AI_CREATED=$(sed -n 's/^created=//p' "$AI_MARKER")
        AI_WSHA=$(sed -n 's/^wheel_sha256=//p' "$AI_MARKER")
        ai_link
        return 0
    fi

    AI_CREATED=""
    [ -f "$AI_MARKER" ] && AI_CREATED=$(sed -n 's/^created=//p' "$AI_MARKER")
    ai_action=installed
    # Reuse the venv when it runs on the same base interpreter (same prefix and version).
    if [ -x "$AI_VENV/bin/python" ] && [ -f "$AI_VENV/pyvenv.cfg" ] \
        && [ "$("$AI_VENV/bin/python" -c "$AI_PY_ID_CODE" 2>/dev/null || true)" = "$AI_PY_ID" ]; then
        ai_action=upgraded
        ai_did "reusing the virtual environment $AI_VENV"
    else
        if [ -e "$AI_VENV" ]; then
            # Only ever our own venv: it carries our marker, or it is an unfinished one we created.
            [ -f "$AI_MARKER" ] || [ -f "$AI_VENV/pyvenv.cfg" ] \
                || ai_die 24 "$AI_VENV exists and is not a virtual environment made by this installer. Nothing was changed."
            rm -rf "$AI_VENV"
            ai_action=reinstalled
        fi
        ai_mkdirs "$(dirname "$AI_VENV")"
        "$AI_PY" -m venv "$AI_VENV" || ai_die 21 "$AI_PY could not create a virtual environment at $AI_VENV.
  On ${AI_DISTRO_NAME:-this system}: $(ai_python_advice "${AI_PY_VERSION%.*}")"
        ai_did "created the virtual environment $AI_VENV ($AI_PY $AI_PY_VERSION)"
    fi
    rm -f "$AI_MARKER"

    [ -n "$AI_WHEEL" ] || ai_build_wheel
    ai_wsha=$(ai_pyhelper sha256 "$AI_WHEEL")
    printf 'aistack @ file://%s --hash=sha256:%s\n' "$AI_WHEEL" "$ai_wsha" >"$AI_TMP/aistack.req"

    ai_pip install --require-hashes --no-deps -r "$AI_LOCK" \
        || ai_die 23 "pip could not install the locked dependencies into $AI_VENV (its output is above).
  Your config, state and models were not touched. Run this installer again once the cause is fixed."
    ai_pip install --require-hashes --no-deps --force-reinstall -r "$AI_TMP/aistack.req" \
        || ai_die 23 "pip could not install aistack into $AI_VENV (its output is above)."
    "$AI_VENV/bin/python" -m pip --disable-pip-version-check -q check >"$AI_TMP/check.txt" 2>&1 \
        || ai_die 23 "the installed packages are inconsistent (requirements.lock is out of date with pyproject.toml?):
$(cat "$AI_TMP/check.txt")"
    ai_ndeps=$(grep -c '^[A-Za-z]' "$AI_LOCK" || true)
    ai_did "$ai_action aistack $("$AI_TARGET" --version 2>/dev/null | sed 's/.*version //') (wheel sha256 $(printf %.12s "$ai_wsha")…) and $ai_ndeps locked dependencies, every hash verified"
    AI_WSHA=$ai_wsha
    ai_write_marker
    ai_link
}

# What this installer made, read back by the next run and by --uninstall.
ai_write_marker() {
    [ -n "${AI_KEY:-}" ] && [ -d "$AI_VENV" ] || return 0
    {
        printf 'key=%s\n' "$AI_KEY"
        printf 'version=%s\n' "$AI_VERSION"
        printf 'source=%s\n' "$AI_SOURCE"
        printf 'wheel_sha256=%s\n' "${AI_WSHA:-}"
        printf 'created=%s\n' "${AI_CREATED:-}"
    } >"$AI_MARKER"
}

# mkdir -p that remembers (in AI_CREATED, deepest first) which directories it made,
# so --uninstall can remove exactly those again when they are empty.
ai_mkdirs() {
    ai_d=$1
    while [ ! -e "$ai_d" ]; do
        AI_CREATED="${AI_CREATED:+$AI_CREATED:}$ai_d"
        ai_d=$(dirname "$ai_d")
    done
    mkdir -p "$1"
}

ai_link() {
    if [ -L "$AI_LINK" ]; then
        return 0
    fi
    ai_mkdirs "$AI_BIN_DIR"
    ai_write_marker
    ln -s "$AI_TARGET" "$AI_LINK"
    ai_did "linked $AI_LINK -> $AI_TARGET"
}

ai_next_steps() {
    ai_cmd=aistack
    case ":${PATH:-}:" in
        *":$AI_BIN_DIR:"*) ;;
        *)
            ai_cmd=$AI_LINK
            ai_next "$AI_BIN_DIR is not on your PATH; add it:  echo 'export PATH=\"$AI_BIN_DIR:\$PATH\"' >> ~/.profile"
            ;;
    esac
    if [ "$AI_UP" = 1 ]; then
        ai_say "running: $ai_cmd up"
        ai_rc=0
        "$AI_TARGET" up || ai_rc=$?
        if [ "$ai_rc" != 0 ]; then
            ai_die 25 "aistack is installed, but 'aistack up' failed with exit code $ai_rc (see above; the codes are in the README).
  Fix the cause and run: $ai_cmd up"
        fi
        ai_next "$ai_cmd status    (the endpoint, the model, its health)"
    else
        ai_next "$ai_cmd up        (plan, fetch, install and start the AI server)"
        ai_next "$ai_cmd plan      (see first what up would do here, and why)"
    fi
}

ai_uninstall() {
    if [ ! -e "$AI_VENV" ] && [ ! -L "$AI_LINK" ]; then
        ai_did "nothing: aistack is not installed at $AI_VENV"
        return 0
    fi
    if [ -e "$AI_VENV" ] && [ ! -f "$AI_MARKER" ] && [ ! -f "$AI_VENV/pyvenv.cfg" ]; then
        ai_die 24 "$AI_VENV was not made by this installer. Nothing was removed."
    fi
    ai_kept=""
    if [ -x "$AI_VENV/bin/python" ] && AI_PY=$AI_VENV/bin/python && ai_dirs=$(ai_pyhelper dirs 2>/dev/null); then
        # A deployment left running would outlive the program that manages it.
        # No state file means nothing was ever deployed (and `down` is not run,
        # so uninstalling does not create one).
        ai_statefile=$(printf '%s\n' "$ai_dirs" | sed -n 's/^statefile //p')
        if [ -n "$ai_statefile" ] && [ -f "$ai_statefile" ]; then
            ai_rc=0
            "$AI_TARGET" down >"$AI_TMP/down.txt" 2>&1 || ai_rc=$?
            case $ai_rc in
                0 | 9) ai_did "ran aistack down: $(head -n 1 "$AI_TMP/down.txt")" ;;
                *) ai_warn "'aistack down' exited $ai_rc; a deployment may still be running: $(tail -n 3 "$AI_TMP/down.txt")" ;;
            esac
        fi
        ai_models=$(printf '%s\n' "$ai_dirs" | sed -n 's/^models //p')
        if [ "$AI_PURGE" = 1 ] && [ -n "$ai_models" ]; then
            case $ai_models in
                / | "$HOME" | "$HOME/") ai_warn "not deleting models directory '$ai_models' (too broad)" ;;
                *)
                    if [ -e "$ai_models" ]; then
                        rm -rf "$ai_models"
                        ai_did "deleted the models in $ai_models (--purge-models)"
                    fi
                    ;;
            esac
        fi
        ai_kept=$(printf '%s\n' "$ai_dirs" | grep -v '^statefile ' | { if [ "$AI_PURGE" = 1 ]; then grep -v '^models '; else cat; fi; } | sed 's/ /: /' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
    fi
    ai_created=""
    [ -f "$AI_MARKER" ] && ai_created=$(sed -n 's/^created=//p' "$AI_MARKER")
    rm -rf "$AI_VENV"
    ai_did "removed $AI_VENV"
    if [ -L "$AI_LINK" ] && [ "$(readlink "$AI_LINK")" = "$AI_TARGET" ]; then
        rm -f "$AI_LINK"
        ai_did "removed $AI_LINK"
    fi
    # Directories this installer created (/opt/aistack, ~/.local/bin...) go when empty.
    ai_ifs=$IFS
    IFS=:
    for _ in 1 2; do # twice: a parent listed before its child empties on the second pass
        for ai_d in $ai_created; do
            if [ -d "$ai_d" ] && rmdir "$ai_d" 2>/dev/null; then
                ai_did "removed the empty directory $ai_d"
            fi
        done
    done
    IFS=$ai_ifs
    [ -n "$ai_kept" ] && ai_say "  kept      $ai_kept"
    return 0
}

ai_main() {
    set -eu
    ai_pins
    AI_PY_ID_CODE='import sys; print(sys.base_prefix + " " + sys.version.split()[0])'
    ai_parse_args "$@"
    AI_TMP=$(mktemp -d 2>/dev/null || mktemp -d -t aistack)
    trap 'rm -rf "$AI_TMP"' EXIT
    trap 'rm -rf "$AI_TMP"; trap - EXIT; exit 130' INT TERM
    umask 022

    ai_say "aistack installer"
    ai_detect
    ai_paths
    if [ "$AI_UNINSTALL" = 1 ]; then
        ai_uninstall
        return 0
    fi
    ai_detect_gpu
    ai_detect_build_tools
    ai_checkout
    ai_find_python
    ai_install
    ai_next_steps
}

ai_main "$@"

#!/usr/bin/env bash
# Hearth's .deb installed as a user would install it, into a clean Debian 12 root, and used:
#   tests/package/run.sh [DEB]     (default: the newest .deb scripts/package.sh built)
# 1. A fresh minimal Debian 12 (debootstrap --variant=minbase, cached as a tarball and
#    unpacked anew each run) gets the package with `apt-get install ./hearth.deb`: only its
#    declared dependencies (no Recommends), no Rust, no Python.
# 2. The desktop app, under Xvfb, driven over WebDriver (tauri-driver and WebKitWebDriver are
#    test tools added to the root, curl speaks the protocol): first start with no models, it
#    offers the default download; the download runs from PyPI with its progress shown; the
#    library opens; a folder of real documents added in the window is indexed; a question
#    asked in the chat is answered with a citation of the right page.
# 3. The installed CLI (its own data dir): `hearth --version`; `hearth ingest` of the same documents (Debian's
#    PostgreSQL HTML manual pages); `hearth ask` answers with a citation of one of them; the
#    same with the fast kernels turned off (HEARTH_AVX2=0: what a processor without AVX2 runs).
# 4. `apt-get remove hearth` leaves none of its files behind.
# Needs root (chroot, mounts), network to deb.debian.org and PyPI. Takes 2–10 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
DEB="${1:-$(ls -t "$TARGET"/{release,debug}/bundle/deb/*.deb 2>/dev/null | head -1 || true)}"
[ -f "$DEB" ] || { echo "error: no .deb (build one with scripts/package.sh)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (chroot and mounts)" >&2; exit 2; }
CACHE="${HEARTH_PKGTEST_CACHE:-/var/cache/hearth-pkgtest}"
DOCS="${HEARTH_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hearth/models}/eval-real/postgresql"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { echo "FAILED: $*" >&2; exit 1; }
passed=0
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

for tool in debootstrap xvfb-run curl; do
  command -v "$tool" >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      debootstrap xvfb xauth curl >/dev/null
    break
  }
done
[ -d "$DOCS" ] || bash "$ROOT/eval/fetch-corpus.sh" "$(dirname "$DOCS")"
TAURI_DRIVER="$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")"
[ -x "$TAURI_DRIVER" ] || cargo install tauri-driver --locked

# 1. a clean Debian 12 and the package
mkdir -p "$CACHE"
if [ ! -f "$CACHE/bookworm-minbase.tar" ]; then
  log "debootstrap: a minimal Debian 12 (once; cached)"
  rm -rf "$CACHE/build-root"
  debootstrap --variant=minbase bookworm "$CACHE/build-root" http://deb.debian.org/debian >/dev/null
  tar -C "$CACHE/build-root" -cf "$CACHE/bookworm-minbase.tar" .
  rm -rf "$CACHE/build-root"
fi
R="$(mktemp -d "$CACHE/root.XXXXXX")"
cleanup() {
  # every process still running in the root (the app, the drivers), then the display
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
  for m in tmp/.X11-unix dev/pts dev proc sys; do umountfs "$R/$m"; done
  rm -rf "$R"
}
umountfs() { mountpoint -q "$1" && umount -l "$1" || true; }
trap cleanup EXIT
tar -C "$R" -xf "$CACHE/bookworm-minbase.tar"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
cp /etc/resolv.conf "$R/etc/resolv.conf"
in_root() { chroot "$R" env -i HOME=/home/user PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"; }
cp "$DEB" "$R/tmp/hearth.deb"
log "apt-get install ./hearth.deb ($(du -h "$DEB" | cut -f1))"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  /tmp/hearth.deb >/dev/null
in_root test -x /usr/bin/hearth-desktop && in_root test -x /usr/bin/hearth \
  && in_root test -f /usr/lib/hearth/libonnxruntime.so || fail "the package's files are not installed"
in_root ls /usr/share/applications | grep -qi hearth || fail "no desktop entry"
ok "installed with its declared dependencies into a clean Debian 12 ($(in_root dpkg-query -W -f='${Installed-Size}' hearth) KiB)"
in_root sh -c 'command -v cargo python3 rustc' && fail "Rust or Python in the root" || true
# The root's network is this machine's: a machine whose HTTPS goes through an inspecting proxy
# trusts the proxy's certificate authority locally (/usr/local/share/ca-certificates), and so
# must the root, as any computer on that network would.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/"
  in_root /usr/sbin/update-ca-certificates >/dev/null 2>&1
fi
mkdir -p "$R/home/user"
t0=$(date +%s%N)
version="$(in_root /usr/bin/hearth --version)"
cli_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ "$version" == hearth\ * ]] || fail "hearth --version: $version"
ok "hearth --version: $version ($cli_ms ms)"

# 2. the app, first start: no models; it offers the default download and fetches them
log "test tools in the root: WebKitWebDriver, tauri-driver"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  webkit2gtk-driver >/dev/null
cp "$TAURI_DRIVER" "$R/usr/local/bin/tauri-driver"
Xvfb :77 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB_PID=$!
mkdir -p "$R/tmp/.X11-unix"
mount --bind /tmp/.X11-unix "$R/tmp/.X11-unix"
# ports of their own: the desktop tests (4444/4445) may run beside this
in_root env DISPLAY=:77 tauri-driver --port 4477 --native-port 4478 >"$R/tmp/driver.log" 2>&1 &
WD=http://127.0.0.1:4477
for _ in $(seq 100); do curl -s "$WD/status" >/dev/null && break; sleep 0.2; done
t0=$(date +%s%N)
session="$(curl -s -X POST "$WD/session" -H 'content-type: application/json' -d '{"capabilities":
  {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": "/usr/bin/hearth-desktop"}}}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"]["sessionId"])')" \
  || fail "no WebDriver session on the installed app: $(cat "$R/tmp/driver.log")"
js() { # js SCRIPT → the value (JSON) of a synchronous script
  curl -s -X POST "$WD/session/$session/execute/sync" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"script": sys.argv[1], "args": []}))' "$1")" \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("value")))'
}
jsa() { # jsa SCRIPT → the value (JSON) of an asynchronous script (it calls arguments[0] with it)
  curl -s -X POST "$WD/session/$session/execute/async" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"script": sys.argv[1], "args": []}))' "$1")" \
    | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin).get("value")))'
}
window_state() { # what the window shows, what the engine says about its models, the driver's log
  js "return [document.querySelector('#problem'), document.querySelector('#models-list')].map(e => e && e.textContent).join(' | ')"
  echo "models (engine): $(jsa "const done = arguments[0]; window.__TAURI__.core.invoke('models').then(m => done(m.map(x => x.id + ':' + x.installed)), e => done(String(e && (e.message || JSON.stringify(e)))))")"
  echo "downloads dir: $(ls -la "$R/home/user/.local/share/hearth/models/.downloads" 2>&1 | tail -n +2)"
  echo "driver log: $(tail -20 "$R/tmp/driver.log")"
}
wait_for() { # wait_for WHAT SECONDS SCRIPT
  local end=$(( $(date +%s) + $2 ))
  until [ "$(js "return Boolean($3)")" = "true" ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "$1 (not within $2 s); the window says: $(window_state)"
    sleep 0.5
  done
}
click() { # click CSS: a WebDriver click, as a person's
  local el
  el="$(curl -s -X POST "$WD/session/$session/element" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"using": "css selector", "value": sys.argv[1]}))' "$1")" \
    | python3 -c 'import json,sys; print(list(json.load(sys.stdin)["value"].values())[0])')"
  local reply
  reply="$(curl -s -X POST "$WD/session/$session/element/$el/click" -H 'content-type: application/json' -d '{}')"
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get("value"); sys.exit(1 if isinstance(v, dict) and v.get("error") else 0)' "$reply" \
    || fail "click $1: $reply"
}
type_into() { # type_into CSS TEXT: WebDriver keystrokes into a field, as a person's
  local el
  el="$(curl -s -X POST "$WD/session/$session/element" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"using": "css selector", "value": sys.argv[1]}))' "$1")" \
    | python3 -c 'import json,sys; print(list(json.load(sys.stdin)["value"].values())[0])')"
  curl -s -X POST "$WD/session/$session/element/$el/value" -H 'content-type: application/json' \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"text": sys.argv[1]}))' "$2")" >/dev/null
}
wait_for "the window ready" 60 "document.body.dataset.ready === '1'"
ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
rss_in_root() { # resident memory (MiB) of the app's processes: hearth-desktop and WebKit's
  local kib=0 p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] || continue
    case "$(cat "$p/comm" 2>/dev/null)" in hearth-desktop | WebKit*)
      kib=$((kib + $(awk '/^VmRSS/ {print $2}' "$p/status" 2>/dev/null || echo 0))) ;;
    esac
  done
  echo $((kib / 1024))
}
sleep 10
echo "# window ready $ready_ms ms after the app was started (WebDriver session included); idle memory 10 s later: $(rss_in_root) MiB resident (hearth-desktop + WebKit processes)"
wait_for "the window offers the default download" 60 "document.querySelector('#download-defaults')"
ok "first start without models: the window offers the default models"
click "#download-defaults"
wait_for "a download's progress shown" 120 \
  "[...document.querySelectorAll('.download-line')].some(l => / of /.test(l.textContent)) && [...document.querySelectorAll('#models-list progress.download-bar')].some(b => b.value > 0)"
ok "the default models download with a progress bar and a progress line"
wait_for "the default models installed and the library open" 900 \
  "document.querySelector('#problem').hidden && ['all-minilm-l6-v2', 'qwen2.5-coder-0.5b-instruct-q4km', 'qwen2.5-coder-1.5b-instruct-q4km', 'onnxruntime-1.32'].every(id => { const r = document.querySelector('#models-list tr[data-id=\"' + id + '\"]'); return r && r.textContent.includes('installed') && !r.textContent.includes('not installed'); })"
ok "the default models are installed from PyPI and the library opens"
# real documents: pages of Debian's PostgreSQL manual (VACUUM, the tutorial, backups)
mkdir -p "$R/home/user/docs"
ls "$DOCS"/*.html | grep -E 'vacuum|tutorial-(concepts|select|join)|backup-dump' \
  | xargs -I{} cp {} "$R/home/user/docs/"
ndocs=$(ls "$R/home/user/docs" | wc -l)
click "#nav-library"
type_into "#add-path" "/home/user/docs"
click "#add-submit"
wait_for "the folder indexed in the window" 600 \
  "document.body.dataset.ingest === 'idle' && document.querySelectorAll('#library-list .doc[data-status=indexed]').length === $ndocs"
ok "the window indexes a folder of $ndocs real HTML pages: $(js "return document.querySelector('#ingest-line').textContent" | python3 -c 'import json,sys; print(json.load(sys.stdin))')"
click "#nav-chat"
type_into "#chat-input" "What does VACUUM do in PostgreSQL?"
click "#chat-send"
wait_for "the answer in the window" 600 \
  "(() => { const m = document.querySelector('.msg.assistant'); return m && ['done', 'quoted'].includes(m.dataset.state); })()"
# the answer's first citation, opened as a person would: the passage and its file
click ".msg.assistant .cite"
wait_for "the cited passage" 30 "document.querySelector('.msg.assistant .passage')"
reply="$(js "const m = document.querySelector('.msg.assistant'); const p = m.querySelector('.passage'); return [m.dataset.state, m.querySelector('.text').textContent, m.querySelectorAll('.cite').length, p.querySelector('strong').textContent, p.querySelector('.body').textContent]")"
python3 - "$reply" <<'PY' || fail "the window's answer: $reply"
import json, sys
state, text, cites, source, passage = json.loads(sys.argv[1])
assert text.strip(), "empty answer"
assert cites >= 1, "no citation in the answer"
assert "vacuum" in source.lower(), f"the citation is not a VACUUM page: {source}"
assert passage.strip(), "the cited passage is empty"
PY
ok "the window answers a question with a citation ($(python3 -c 'import json,sys; v=json.loads(sys.argv[1]); print(v[0] + ":", repr(v[1][:80]), "cites", v[3].split("/")[-1])' "$reply"))"
curl -s -X DELETE "$WD/session/$session" >/dev/null || true

# 3. the installed CLI on real documents, with and without the fast kernels
# (an index of its own, on the models the window downloaded)
cli=(env HEARTH_DATA_DIR=/home/user/cli-data HEARTH_MODELS_DIR=/home/user/.local/share/hearth/models)
in_root "${cli[@]}" /usr/bin/hearth ingest /home/user/docs >/dev/null || fail "hearth ingest"
ok "hearth ingest of $ndocs real HTML pages"
for kernels in default portable; do
  env_=(); [ "$kernels" = portable ] && env_=(HEARTH_AVX2=0)
  answer="$(in_root "${cli[@]}" "${env_[@]}" /usr/bin/hearth ask "What does VACUUM do in PostgreSQL?" --json)"
  python3 - "$answer" <<'PY' || fail "hearth ask ($kernels kernels): $answer"
import json, sys
a = json.loads(sys.argv[1])
cited = [c["path"] for c in a.get("citations", [])]
assert a["answer"].strip(), "empty answer"
assert any("vacuum" in p for p in cited), f"no citation of a VACUUM page: {cited}"
PY
  ok "hearth ask answers with a citation ($kernels kernels)"
done

# 4. removed cleanly
in_root apt-get remove -y -qq hearth >/dev/null
for f in /usr/bin/hearth /usr/bin/hearth-desktop /usr/lib/hearth; do
  in_root test -e "$f" && fail "$f left after apt-get remove"
done
ok "apt-get remove hearth leaves none of its files"
echo "package tests: $passed passed"

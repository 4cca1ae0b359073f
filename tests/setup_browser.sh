#!/usr/bin/env bash
# Install what tests/test_site.py needs to read the built site in a real browser:
#   - Debian's Chromium (apt; never a browser downloaded by Playwright),
#   - playwright-core from npm, pinned by version and by the registry's integrity hash, into the
#     git-ignored .cache/node (it has no dependencies, so the verified tarball is all of it).
# Idempotent: does nothing when both are present at the pinned version. Needs root for apt
# (or sudo); set SKIP_APT=1 to leave system packages alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYWRIGHT_VERSION=1.65.2
# `npm view playwright-core@1.65.2 dist.integrity`
PLAYWRIGHT_INTEGRITY="sha512-aHu9F46Mx5ha9iiB+VLZMUUtex3PBw4am9MHptc0IXaJhz++6YXsH96eEyThwCwMkIUiB8TdZcwXqnb3xKDzmA=="
NODE_DIR=.cache/node

# only what is missing: a machine whose Node.js bundles npm must not be asked for Debian's npm,
# which conflicts with it
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${SKIP_APT:-}" = 1 ]; then
    echo "setup_browser: chromium or npm missing and SKIP_APT=1" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

installed=$(node -p "require('./$NODE_DIR/node_modules/playwright-core/package.json').version" \
  2>/dev/null || true)
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
  mkdir -p "$NODE_DIR/tarballs"
  tarball="$NODE_DIR/tarballs/playwright-core-$PLAYWRIGHT_VERSION.tgz"
  if [ ! -f "$tarball" ]; then
    scratch=$(mktemp -d "$NODE_DIR/tarballs/.pack-XXXXXX")
    (cd "$scratch" && npm pack --silent --ignore-scripts "playwright-core@$PLAYWRIGHT_VERSION" \
      >/dev/null)
    mv "$scratch"/playwright-core-*.tgz "$tarball.part"
    rmdir "$scratch"
  else
    cp "$tarball" "$tarball.part"
  fi
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball.part" | base64 -w0)"
  if [ "$actual" != "$PLAYWRIGHT_INTEGRITY" ]; then
    rm -f "$tarball.part" "$tarball"
    echo "setup_browser: playwright-core tarball does not match its integrity hash" >&2
    echo "  expected $PLAYWRIGHT_INTEGRITY" >&2
    echo "  got      $actual" >&2
    exit 1
  fi
  mv "$tarball.part" "$tarball"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --prefix "$NODE_DIR" --no-save \
    --ignore-scripts --no-audit --no-fund --offline "$tarball" >/dev/null
fi

echo "setup_browser: $(chromium --version 2>/dev/null | head -1 | cut -c1-40);" \
  "playwright-core $PLAYWRIGHT_VERSION in $NODE_DIR"

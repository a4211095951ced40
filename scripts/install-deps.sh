#!/usr/bin/env bash
# Installs the Debian packages Theater needs to build, run and test (idempotent; needs root).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  wabt                                   # wasm2c, wat2wasm, libwabt (interpreter tier)
  clang lld wasi-libc libclang-rt-14-dev-wasm32   # C/C++ actors -> wasm32-wasi
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libsqlite3-dev libssl-dev libboost-context-dev libconcurrentqueue-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  erlang-base libcaf-dev jq              # bench/compare: Erlang/OTP and CAF runners; jq merges
  libnats-dev nats-server                # cluster (src/cluster/): NATS C client; JetStream server for tests
  libcpp-httplib-dev                     # theater server (HTTP API) and the CLI's client
  chromium                               # the dashboard's browser test (tests/browser)
)
# Node.js for the browser test: Debian's, unless one is installed already (it brings its own npm).
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# playwright-core (drives Debian's chromium; it downloads no browser of its own) for tests/browser.
browser_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ ! -d "$browser_tests/node_modules/playwright-core" ]; then
  echo "installing playwright-core into tests/browser"
  # The system's CA bundle, where a TLS-inspecting proxy's certificate is installed, if there is one.
  cafile=()
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cafile=(--cafile /etc/ssl/certs/ca-certificates.crt)
  if ! npm ci --prefix "$browser_tests" --no-audit --no-fund --loglevel=error "${cafile[@]}"; then
    # Not fatal: everything else still builds and runs; the browser test reports itself skipped.
    echo "WARNING: could not install playwright-core from the npm registry; the dashboard's browser test will be skipped" >&2
  fi
fi

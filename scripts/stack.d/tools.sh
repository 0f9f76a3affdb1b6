# Installers of the tools only the tests use: the Python deltalake reader, the README's readers
# (polars, pandas, DuckDB, DataFusion), the deployment validators (Helm SDK, kubernetes-validate,
# python-hcl2), checkov, the SDK's browser and Node, and Prometheus with promtool. `scripts/test`
# installs them (`scripts/stack tools`); the run command does not. Each returns at once when
# installed. Sourced by scripts/stack, after install.sh.

install_pydeltalake() {
  if [ -x "$PYDELTA_VENV/bin/python" ] && "$PYDELTA_VENV/bin/python" -c 'import deltalake' 2>/dev/null; then return; fi
  log "installing Python deltalake $PYDELTA_VERSION into $PYDELTA_VENV"
  new_venv "$PYDELTA_VENV"
  "$PYDELTA_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "deltalake==$PYDELTA_VERSION" "pyarrow==$PYARROW_VERSION"
}

# install_venv DIR REQUIREMENTS: a venv with exactly those pins, made once (a marker file says the
# install finished, so an interrupted one is redone).
install_venv() {
  local venv=$1 requirements=$2
  if [ -f "$venv/.installed" ]; then return; fi
  log "installing $(grep -v -e '^#' -e '^$' "$requirements" | tr '\n' ' ')into $venv"
  rm -rf "$venv"
  new_venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  touch "$venv/.installed"
}

# What the SDK's tests need (sdk/js, crates/e2e/tests/browser_sdk.rs): Debian's Chromium and its
# WebDriver, never a browser download, and Node (18 or later) with npm to build and test the SDK.
install_browser_tools() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install chromium chromium-driver
  fi
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ] || die "the SDK's tests need Node 18 or later"
}

# Prometheus and promtool from Debian's package, unpacked (the package's files only, no service).
install_prometheus() {
  if [ -f "$PROMETHEUS_DIR/.installed" ]; then return; fi
  log "installing Prometheus and promtool (Debian's package, unpacked into $PROMETHEUS_DIR)"
  local download sudo=""; download=$(mktemp -d)
  [ "$(id -u)" = 0 ] || sudo=sudo
  chmod 777 "$download"   # apt fetches as its own unprivileged user
  (cd "$download" && apt-get download -qq prometheus) \
    || { $sudo apt-get update -qq && (cd "$download" && apt-get download -qq prometheus); }
  rm -rf "$PROMETHEUS_DIR"
  mkdir -p "$PROMETHEUS_DIR"
  dpkg-deb -x "$download"/prometheus_*.deb "$PROMETHEUS_DIR"
  rm -rf "$download"
  "$PROMETHEUS_DIR/usr/bin/promtool" --version >/dev/null
  touch "$PROMETHEUS_DIR/.installed"
}

install_test_tools() {
  mkdir -p "$CACHE"
  install_pydeltalake
  install_venv "$READERS_VENV" "$READERS_REQUIREMENTS"
  install_venv "$DEPLOY_VENV" "$DEPLOY_REQUIREMENTS"
  install_venv "$CHECKOV_VENV" "$CHECKOV_REQUIREMENTS"
  install_browser_tools
  install_prometheus
}

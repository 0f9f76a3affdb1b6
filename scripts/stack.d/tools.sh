# Installers of the tools only the tests use: the Python deltalake reader, the deployment
# validators (Helm SDK, kubernetes-validate, python-hcl2) and checkov. `scripts/test` installs them
# (`scripts/stack tools`); the run command does not. Each returns at once when installed. Sourced by
# scripts/stack, after install.sh.

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

install_test_tools() {
  mkdir -p "$CACHE"
  install_pydeltalake
  install_venv "$DEPLOY_VENV" "$DEPLOY_REQUIREMENTS"
  install_venv "$CHECKOV_VENV" "$CHECKOV_REQUIREMENTS"
}

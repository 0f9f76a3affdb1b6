# Installers of what the pipeline runs on: PostgreSQL (Debian's), the tansu broker (cargo) and moto's
# S3 server (a venv). Each returns at once when its part is installed. Sourced by scripts/stack.

apt_install() {
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "$@" >/dev/null
}

# new_venv DIR: a Python venv (python3-venv installed first if Debian lacks it).
new_venv() {
  python3 -m venv "$1" || { apt_install python3-venv && python3 -m venv "$1"; }
}

install_postgres() {
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    apt_install postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
}

install_tansu() {
  if [ -x "$TANSU" ] && "$TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then return; fi
  command -v cargo >/dev/null || die "cargo is needed to install tansu"
  log "installing tansu $TANSU_VERSION with cargo (about 15 minutes, once)"
  # Its own build folder: tansu's lock file must not disturb the project's build cache.
  env -u CARGO_TARGET_DIR cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --quiet
}

install_moto() {
  if [ -x "$MOTO_VENV/bin/moto_server" ]; then return; fi
  log "installing moto $MOTO_VERSION into $MOTO_VENV"
  new_venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

install_pipeline_parts() {
  mkdir -p "$STACK_DIR" "$CACHE"
  install_postgres
  install_moto
  install_tansu
}

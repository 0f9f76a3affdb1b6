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
  log "installing tansu $TANSU_VERSION with the $TANSU_FIX fix, with cargo (about 15 minutes, once)"
  local source; source=$(fixed_tansu_broker)
  # Its own build folder: tansu's lock file must not disturb the project's build cache. Its lock
  # file is kept (--locked); only tansu-broker's source is ours.
  env -u CARGO_TARGET_DIR cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore --quiet \
    --config "patch.crates-io.tansu-broker.path='$source'" --root "${TANSU%/bin/tansu}"
}

# fixed_tansu_broker: the source of tansu-broker $TANSU_VERSION with fix_tansu_forming_leader
# applied, unpacked once into the cache; prints its folder.
fixed_tansu_broker() {
  local dir=$CACHE/tansu-broker-$TANSU_VERSION-$TANSU_FIX fetch=$CACHE/tansu-fetch crate
  if [ ! -f "$dir/.fixed" ]; then
    # A manifest that depends on the crate, so that cargo downloads it (and nothing is built).
    mkdir -p "$fetch/src" && : >"$fetch/src/lib.rs"
    printf '[package]\nname = "tansu-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\ntansu-broker = "=%s"\n' \
      "$TANSU_VERSION" >"$fetch/Cargo.toml"
    cargo fetch --quiet --manifest-path "$fetch/Cargo.toml" >&2
    crate=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/cache" -name "tansu-broker-$TANSU_VERSION.crate" | head -n 1)
    [ -n "$crate" ] || die "cargo fetched no tansu-broker $TANSU_VERSION"
    rm -rf "$dir" && mkdir -p "$dir"
    tar xzf "$crate" -C "$dir" --strip-components=1
    fix_tansu_forming_leader "$dir/src/coordinator/group/administrator.rs"
    touch "$dir/.fixed"
  fi
  echo "$dir"
}

# fix_tansu_forming_leader FILE: tansu 0.6.0 can leave a forming group with a leader that is no
# longer a member: when that leader left while the group formed, or when a late heartbeat ended the
# leader's own session in a formed group (the heartbeat drops the member but keeps it as leader,
# and the next join turns that into a forming group led by it). Every member that joins then is a
# follower of a leader that never answers: the group never forms again and no one reads (DESIGN.md
# §6.6). The fix, before a joining member is checked for leadership: a leader that is not a member
# is no leader. Apache Kafka elects a new leader from the members in both cases.
fix_tansu_forming_leader() {
  local file=$1 anchor='        if self.state.leader.is_none() {'
  [ "$(grep -cxF "$anchor" "$file")" = 1 ] || die "tansu's group coordinator is not the code $TANSU_FIX expects: $file"
  sed -i "/^        if self.state.leader.is_none() {\$/i\\
        if self.state.leader.as_ref().is_some_and(|leader| !self.members.contains_key(leader)) {\\
            _ = self.state.leader.take();\\
        }" "$file"
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

# Patroni for the Spilo runner (sourced by `up`): Patroni and psycopg from PyPI. Their wheels are
# cached per version; each environment installs them into a virtualenv of its own under its temp
# dir, where the postgres user (Patroni runs as it: PostgreSQL refuses root) can read them, which
# it cannot under root's home. The interpreter is Debian's (/usr/bin/python3) for the same reason:
# one under a home directory (pyenv) is unreadable to the postgres user. Patroni runs PostgreSQL
# from Debian's server package (postgres.sh).
# shellcheck shell=bash

PATRONI_PYTHON=/usr/bin/python3

PATRONI_WHEELS="$CACHE/patroni-$PATRONI_VERSION/wheels"
PATRONI_REQUIREMENTS=("patroni[kubernetes]==$PATRONI_VERSION" "psycopg[binary]~=$PSYCOPG_VERSION.0")

# ensure_patroni_wheels PIP: downloads the wheels once per version with that pip.
ensure_patroni_wheels() {
  local pip="$1"
  [ -f "$PATRONI_WHEELS/.complete" ] && return
  log "downloading Patroni $PATRONI_VERSION and psycopg (PyPI) into $PATRONI_WHEELS"
  rm -rf "$PATRONI_WHEELS"
  mkdir -p "$PATRONI_WHEELS"
  "$pip" download -q -d "$PATRONI_WHEELS" "${PATRONI_REQUIREMENTS[@]}" \
    || die "pip download of Patroni failed"
  touch "$PATRONI_WHEELS/.complete"
}

# install_patroni DIR: a virtualenv in DIR from the cached wheels.
install_patroni() {
  local dir="$1"
  if ! "$PATRONI_PYTHON" -m venv --help >/dev/null 2>&1; then
    as_root apt-get install -y -q python3 python3-venv >/dev/null \
      || die "Debian's python3 and python3-venv could not be installed"
  fi
  "$PATRONI_PYTHON" -m venv "$dir" || die "$PATRONI_PYTHON -m venv $dir failed"
  ensure_patroni_wheels "$dir/bin/pip"
  "$dir/bin/pip" install -q --no-index --find-links "$PATRONI_WHEELS" "${PATRONI_REQUIREMENTS[@]}" \
    || die "installing Patroni from $PATRONI_WHEELS failed"
  "$dir/bin/patroni" --version | grep -qF "$PATRONI_VERSION" || die "Patroni in $dir is not $PATRONI_VERSION"
  chmod -R a+rX "$dir"
}

# The locales of Spilo's image (its build_scripts/locales.sh generates en_US.UTF-8, beside C):
# manifests ask initdb for `locale: en_US.UTF-8`, as Zalando's complete example does.
ensure_spilo_locales() {
  locale -a 2>/dev/null | grep -qix 'en_US\.utf-\?8' && return
  log "generating the en_US.UTF-8 locale (Spilo's image has it)"
  if ! command -v localedef >/dev/null || [ ! -d /usr/share/i18n/locales ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq locales >/dev/null \
      || die "Debian's locales package could not be installed"
  fi
  as_root localedef -i en_US -c -f UTF-8 en_US.UTF-8 || die "localedef en_US.UTF-8 failed"
}

# Extensions of Spilo's image that manifests create (Zalando's complete example asks for
# pg_partman) and Debian packages for its server; contrib (pgcrypto, …) comes with the server.
SPILO_EXTENSION_PACKAGES=(partman)
ensure_spilo_extensions() {
  local major; major="$(basename "$(dirname "$(pg_bindir)")")"
  local missing=()
  local p
  for p in "${SPILO_EXTENSION_PACKAGES[@]}"; do
    dpkg -s "postgresql-$major-$p" >/dev/null 2>&1 || missing+=("postgresql-$major-$p")
  done
  [ "${#missing[@]}" = 0 ] && return
  log "installing ${missing[*]} (Spilo's image has them)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

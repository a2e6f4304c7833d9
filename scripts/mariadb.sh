#!/usr/bin/env bash
# Starts a private MariaDB server for tests and benchmarks: its own datadir, a
# loopback port and socket, no systemd. Prints the URL to connect with.
#   scripts/mariadb.sh start DIR PORT   -> prints mariadb://root@127.0.0.1:PORT/waddleperf_test
#   scripts/mariadb.sh stop DIR
# MARIADB_OPTS adds server options (e.g. --innodb-buffer-pool-size=1G).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
case "$cmd" in
start)
  port=${3:?port}
  mkdir -p "$dir"
  user_opt=()
  [ "$(id -u)" -eq 0 ] && user_opt=(--user=root)
  if [ ! -d "$dir/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$dir/data" "${user_opt[@]}" --auth-root-authentication-method=normal \
      --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
  fi
  mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" --port="$port" \
    --bind-address=127.0.0.1 --pid-file="$dir/mysqld.pid" --skip-name-resolve --innodb-buffer-pool-size=256M \
    --innodb-log-file-size=256M --max-connections=500 --log-error="$dir/error.log" "${user_opt[@]}" ${MARIADB_OPTS:-} >>"$dir/console.log" 2>&1 &
  for _ in $(seq 1 100); do
    if mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "SELECT 1" >/dev/null 2>&1; then
      # Tests connect over TCP as root without a password, from loopback only.
      mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
      echo "mariadb://root@127.0.0.1:$port/waddleperf_test"
      exit 0
    fi
    sleep 0.2
  done
  echo "error: MariaDB did not start; see $dir/error.log" >&2
  tail -20 "$dir/error.log" >&2 || true
  exit 1
  ;;
stop)
  if [ -f "$dir/mysqld.pid" ]; then
    pid=$(cat "$dir/mysqld.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  ;;
esac

#!/usr/bin/env bash
# Real HTTP peers for the HTTP tests and benchmarks, on loopback, no systemd:
#   scripts/http-peers.sh start DIR   generates a test CA and certificates,
#                                     starts nginx, nghttpd, gtlsserver, the
#                                     misbehaving HTTP/1.1, HTTP/2 and HTTP/3
#                                     servers and a DNS server, prints DIR
#                                     (tests read DIR/peers.env)
#   scripts/http-peers.sh stop DIR
# Ports: WADDLEPERF_HTTP_BASE_PORT (default 18400) and up, listed in peers.env.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
base=${WADDLEPERF_HTTP_BASE_PORT:-18400}
here=$(cd "$(dirname "$0")/.." && pwd)

stop() {
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  for p in misbehave nghttpd h2misbehave h3 h3unknown h3retry h3wrongname h3peer dns; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  return 0
}
if [ "$cmd" = stop ]; then stop; exit 0; fi

mkdir -p "$dir/www" "$dir/pki" "$dir/tmp"
# nginx workers run as www-data: they read www/ and write tmp/ (a mktemp
# directory is 0700).
chmod 755 "$dir" "$dir/www" "$dir/tmp"
pki=$dir/pki
sslconf() { # name, subjectAltName
  cat > "$pki/$1.ext" <<EOT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$2
EOT
}
q() { "$@" >/dev/null 2>&1; }
# The suite's CA, and a second CA nobody trusts.
for ca in ca rogue; do
  q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=WaddlePerf test $ca" -keyout "$pki/$ca.key" -out "$pki/$ca.pem"
done
# leaf NAME CA SAN [startdate enddate]
leaf() {
  q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr"
  sslconf "$1" "$3"
  if [ $# -ge 5 ]; then
    # openssl ca takes explicit validity dates (an already expired certificate).
    mkdir -p "$pki/db-$1"; : > "$pki/db-$1/index.txt"; echo 1000 > "$pki/db-$1/serial"
    cat > "$pki/$1.cnf" <<EOT
[ ca ]
default_ca = test
[ test ]
database = $pki/db-$1/index.txt
serial = $pki/db-$1/serial
new_certs_dir = $pki/db-$1
default_md = sha256
policy = any
copy_extensions = none
[ any ]
commonName = supplied
EOT
    q openssl ca -batch -config "$pki/$1.cnf" -cert "$pki/$2.pem" -keyfile "$pki/$2.key" \
      -startdate "$4" -enddate "$5" -extfile "$pki/$1.ext" -in "$pki/$1.csr" -out "$pki/$1.pem" -notext
  else
    q openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" -CAcreateserial \
      -days 825 -extfile "$pki/$1.ext" -out "$pki/$1.pem"
  fi
}
leaf good ca "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf wrongname ca "DNS:not-this-host.example"
leaf expired ca "DNS:localhost,IP:127.0.0.1" 20200101000000Z 20200201000000Z
leaf unknown rogue "DNS:localhost,IP:127.0.0.1"

head -c 100000 /dev/urandom > "$dir/www/100k.bin"
printf 'hello world\n' > "$dir/www/hello.txt"
# A directory: gtlsserver redirects /dir to /dir/ (308), then serves index.html.
mkdir -p "$dir/www/dir"; printf 'index\n' > "$dir/www/dir/index.html"; chmod 755 "$dir/www/dir"
chmod 644 "$dir/www/"*.* "$dir/www/dir/"*


plain=$base; tls=$((base+1)); wrongname=$((base+2)); expired=$((base+3)); unknown=$((base+4))
tls12=$((base+5)); silent=$((base+6)); midbody=$((base+7)); slow=$((base+8)); refused=$((base+9))
h2c=$((base+10)); nghttpd=$((base+11)); h2misbehave=$((base+12))
h3=$((base+13)); h3unknown=$((base+14)); h3retry=$((base+15)); h3wrongname=$((base+16)); dns=$((base+17))
h3peer=$((base+18)); h3v2=$((base+19))
tlsblock() { # port cert [protocols]
  cat <<EOT
  server {
    listen 127.0.0.1:$1 ssl http2;
    ssl_certificate $pki/$2.pem;
    ssl_certificate_key $pki/$2.key;
    ssl_protocols ${3:-TLSv1.2 TLSv1.3};
    include $dir/locations.conf;
  }
EOT
}
cat > "$dir/locations.conf" <<EOT
    root $dir/www;
    location = /small { return 200 "hello world\n"; }
    location = /r1 { return 302 /r2; }
    location = /r2 { return 301 /small; }
    location = /loop { return 302 /loop; }
    location = /to-tls { return 302 https://127.0.0.1:$tls/small; }
    location = /to-name { return 302 http://h.test:$plain/small; }
    location = /to-nowhere { return 302 http://nx.test:$plain/small; }
    location = /post { if (\$request_method != POST) { return 405; } proxy_pass http://127.0.0.1:$plain/echo-length; }
    location = /echo-length { return 200 "\$http_content_length\n"; }
    location = /chunked { chunked_transfer_encoding on; gzip off; proxy_pass http://127.0.0.1:$slow/chunked; proxy_buffering off; }
    location = /missing { return 404; }
    location = /hello.txt { add_header Alt-Svc 'h3=":$h3"; ma=60'; }
EOT
cat > "$dir/nginx.conf" <<EOT
worker_processes 1;
daemon on;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 20000; }
worker_rlimit_nofile 50000;
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$plain;
    listen [::1]:$plain;
    include $dir/locations.conf;
  }
$(tlsblock "$tls" good)
$(tlsblock "$wrongname" wrongname)
$(tlsblock "$expired" expired)
$(tlsblock "$unknown" unknown)
$(tlsblock "$tls12" good TLSv1.2)
  server {
    # cleartext HTTP/2 with prior knowledge (no Upgrade, no HTTP/1.1)
    listen 127.0.0.1:$h2c http2;
    include $dir/locations.conf;
  }
}
EOT
stop
# An HTTP/3 peer for what gtlsserver cannot do (redirect chains, a 50 ms
# first byte, silence, a stream reset or CONNECTION_CLOSE mid-body, a QUIC
# v2-only port): Tests/peers/h3peer.py on aioquic from PyPI, in a virtualenv
# kept under .build/ (made once; WADDLEPERF_PEER_VENV overrides where), made
# before any server starts so a PyPI failure leaves nothing running.
venv=${WADDLEPERF_PEER_VENV:-$here/.build/peer-venv}
if ! "$venv/bin/python" -c "import aioquic" 2>/dev/null; then
  /usr/bin/python3 -m venv "$venv" >&2
  for attempt in 1 2 3; do
    "$venv/bin/pip" install -q --disable-pip-version-check --retries 5 --timeout 60 "aioquic>=1.2,<2" >&2 && break
    [ "$attempt" -eq 3 ] && { echo "error: could not install aioquic from PyPI into $venv" >&2; exit 1; }
    sleep $((attempt * 5))
  done
fi
nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/nginx-error.log"
python3 "$here/Tests/peers/misbehave.py" --silent "$silent" --midbody "$midbody" --slow "$slow" \
  > "$dir/misbehave.log" 2>&1 &
echo $! > "$dir/misbehave.pid"
# Cleartext HTTP/2 (prior knowledge) peers: nghttpd serving www/, and the
# misbehaving one (RST_STREAM, GOAWAY, silence, delay, close mid-body). The h2
# library is Debian's python3-h2, so Debian's python runs it.
nghttpd --no-tls -a 127.0.0.1 -d "$dir/www" "$nghttpd" > "$dir/nghttpd.log" 2>&1 &
echo $! > "$dir/nghttpd.pid"
h2py=/usr/bin/python3; [ -x "$h2py" ] || h2py=python3
: > "$dir/h2misbehave.log"
"$h2py" "$here/Tests/peers/h2misbehave.py" --port "$h2misbehave" --log "$dir/h2misbehave.log" \
  >> "$dir/h2misbehave.log" 2>&1 &
echo $! > "$dir/h2misbehave.pid"
# HTTP/3 (QUIC) peers: Debian's gtlsserver (ngtcp2's example server, GnuTLS)
# serving www/ (and /<N>: N zero bytes), with the suite's good certificate,
# one from the unknown CA, one with the wrong name, and one that makes every
# client go through a Retry first (-V) and allows only 4 concurrent streams.
h3server() { # name port cert [options]
  local name=$1 port=$2 cert=$3; shift 3
  gtlsserver -q "$@" -d "$dir/www" 127.0.0.1 "$port" "$pki/$cert.key" "$pki/$cert.pem" > "$dir/$name.log" 2>&1 &
  echo $! > "$dir/$name.pid"
}
h3server h3 "$h3" good
h3server h3unknown "$h3unknown" unknown
h3server h3wrongname "$h3wrongname" wrongname
h3server h3retry "$h3retry" good -V --max-streams-bidi=4
# The aioquic HTTP/3 peer (its virtualenv was made above).
"$venv/bin/python" "$here/Tests/peers/h3peer.py" --port "$h3peer" --v2-port "$h3v2" --cert "$pki/good.pem" \
  --key "$pki/good.key" --log "$dir/h3peer.log" > "$dir/h3peer.out" 2>&1 &
echo $! > "$dir/h3peer.pid"
# A DNS server (UDP and TCP) for the stub resolver: names under test. that
# answer, CNAME, NXDOMAIN, SERVFAIL, answer after 50 ms, drop every other
# UDP query, or need TCP (truncated over UDP).
python3 "$here/Tests/peers/dnsserver.py" --port "$dns" --log "$dir/dns.log" > "$dir/dns.out" 2>&1 &
echo $! > "$dir/dns.pid"
cat > "$dir/peers.env" <<EOT
CA=$pki/ca.pem
PLAIN=$plain
TLS=$tls
WRONGNAME=$wrongname
EXPIRED=$expired
UNKNOWN=$unknown
TLS12=$tls12
SILENT=$silent
MIDBODY=$midbody
SLOW=$slow
REFUSED=$refused
H2C=$h2c
NGHTTPD=$nghttpd
H2MISBEHAVE=$h2misbehave
H3=$h3
H3UNKNOWN=$h3unknown
H3RETRY=$h3retry
H3WRONGNAME=$h3wrongname
H3PEER=$h3peer
H3V2=$h3v2
DNS=$dns
WWW=$dir/www
EOT
for i in $(seq 50); do
  if curl -sf "http://127.0.0.1:$plain/small" >/dev/null && curl -sf "http://127.0.0.1:$slow/delay" >/dev/null &&
    curl --http2-prior-knowledge -sf "http://127.0.0.1:$h2c/small" >/dev/null &&
    curl --http2-prior-knowledge -sf -o /dev/null "http://127.0.0.1:$nghttpd/100k.bin" &&
    curl --http2-prior-knowledge -sf "http://127.0.0.1:$h2misbehave/small" >/dev/null &&
    [ "$(ss -Hlun "( sport = :$h3 or sport = :$h3unknown or sport = :$h3retry or sport = :$h3wrongname or sport = :$h3peer or sport = :$h3v2 )" | wc -l)" -eq 6 ] &&
    [ "$(ss -Hltn "( sport = :$dns )" | wc -l)" -eq 1 ]; then
    echo "$dir"; exit 0
  fi
  sleep 0.1
done
echo "error: HTTP peers did not start (see $dir/nginx-error.log, $dir/misbehave.log, $dir/nghttpd.log, $dir/h2misbehave.log, $dir/h3peer.out)" >&2
exit 1

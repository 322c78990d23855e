#!/usr/bin/env bash
# Repository throughput (issue #12). The same tree — half random, half
# repetitive — backed up by stock restic (Debian's) to
#   (a) a local folder repository (the disk's limit),
#   (b) the console's REST face (/repo/<installation>/, a release build),
#   (c) rustic_server, the peer REST server written in Rust (when installed:
#       cargo install rustic_server --root /tmp/rustic-server),
# then the agent's own backup of the tree through the console and a restore
# (agent and stock restic). Prints wall seconds, MB/s and CPU seconds of the
# client and of the server for each, one run.
#
#   cargo build --release --bin command-center
#   SIZE_MB=1024 bash benches/repository.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
BIN=${BIN:-$PWD/target/release/command-center}
RESTIC=${RESTIC:-/usr/bin/restic}
RUSTIC_SERVER=${RUSTIC_SERVER:-$(command -v rustic-server || echo /tmp/rustic-server/bin/rustic-server)}
[ -x "$BIN" ] || { echo "build first: cargo build --release --bin command-center" >&2; exit 1; }
[ -x "$RESTIC" ] || { echo "needs restic (apt-get install -y restic)" >&2; exit 1; }

work=$(mktemp -d /tmp/cc-repo-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export HOME=$work RESTIC_PASSWORD=bench-key-0123456789

echo "== tree: $SIZE_MB MB (half random, half repetitive) in $work/tree"
mkdir -p "$work/tree/random" "$work/tree/text"
half=$((SIZE_MB / 2))
for i in $(seq 1 $((half / 16))); do head -c $((16 * 1000 * 1000)) /dev/urandom > "$work/tree/random/r$i.bin"; done
python3 - "$work/tree/text" "$half" <<'PY'
import sys, os
d, mb = sys.argv[1], int(sys.argv[2])
line = "Tarjous {n}: varmuuskopiointipalvelu, 5 tyoasemaa ja 1 palvelin, hinta 49,00 EUR/kk.\n"
for f in range(mb // 16):
    with open(os.path.join(d, f"t{f}.txt"), "w") as out:
        written, n = 0, f * 1_000_000
        while written < 16_000_000:
            s = line.format(n=n % 1000)
            out.write(s); written += len(s); n += 1
PY
bytes=$(du -sb "$work/tree" | cut -f1)
sync

ticks=$(getconf CLK_TCK)
cpu_of() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# Runs restic (or the agent) timed; prints one result line. $1 label, $2
# server pid or "-", rest: the command.
measure() {
  local label=$1 spid=$2; shift 2
  local s0=0; [ "$spid" != - ] && s0=$(cpu_of "$spid")
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" > "$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  read -r wall user sys < "$work/time"
  local s1=0; [ "$spid" != - ] && s1=$(cpu_of "$spid")
  python3 - "$label" "$bytes" "$wall" "$user" "$sys" "$s0" "$s1" <<'PY'
import sys
label, b, wall, user, sys_, s0, s1 = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
print(f"{label:<44} {wall:7.1f} s {b / 1e6 / wall:8.1f} MB/s   client CPU {user + sys_:6.1f} s   server CPU {s1 - s0:6.1f} s")
PY
}

echo "== (a) stock restic to a local folder"
"$RESTIC" -q init -r "$work/local" > /dev/null
measure "(a) restic → local folder" - "$RESTIC" -r "$work/local" backup -q "$work/tree"

echo "== (b) stock restic to the console"
p=$(port); base="http://127.0.0.1:$p"
CC_DATA_DIR="$work/console" CC_LISTEN="127.0.0.1:$p" CC_LOG=warn \
  CC_ADMIN_EMAIL=bench@example.com CC_ADMIN_PASSWORD=bench-password-123 "$BIN" serve > "$work/console.log" 2>&1 &
cpid=$!; pids+=("$cpid")
wait_up "$base/healthz"
api() { curl -fsS -X "$1" "$base$2" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
tok=$(curl -fsS "$base/api/v1/auth/token" -H 'Content-Type: application/json' \
  -d '{"email":"bench@example.com","password":"bench-password-123"}' | json "['token']")
cid=$(api POST /api/v1/customers '{"name":"Bench Oy","language":"en","encryption_key":"'"$RESTIC_PASSWORD"'"}' | json "['id']")
lid=$(api POST "/api/v1/customers/$cid/licenses" '{"standard_seats":5,"extra_space_gb":1000}' | json "['id']")
activate() {
  local code
  code=$(api POST "/api/v1/licenses/$lid/invites" '{"username":"'"$1"'","email":"'"$1"'@example.com","software_type":"standard"}' | json "['activation_code']")
  echo "$code"
}
code=$(activate restic1)
act=$(curl -fsS "$base/client/v1/activate" -H 'Content-Type: application/json' \
  -d '{"username":"restic1","activation_code":"'"$code"'","hostname":"bench","os":"linux","client_version":"restic"}')
iid=$(echo "$act" | json "['policy']['installation_id']"); itok=$(echo "$act" | json "['token']")
repo_b="rest:http://$iid:$itok@127.0.0.1:$p/repo/$iid/"
"$RESTIC" -q init -r "$repo_b" > /dev/null
measure "(b) restic → console REST" "$cpid" "$RESTIC" -r "$repo_b" backup -q "$work/tree"

if [ -x "$RUSTIC_SERVER" ]; then
  echo "== (c) stock restic to rustic_server"
  rp=$(port)
  # With a user and an ACL entry: its defaults are private and append-only,
  # and 0.4.4 panics listing files for a request without credentials.
  mkdir -p "$work/rustic"; printf '[bench]\nbench = "Modify"\n' > "$work/rustic/acl.toml"
  python3 -c 'import hashlib, base64; print("bench:{SHA}" + base64.b64encode(hashlib.sha1(b"bench-pass").digest()).decode())' > "$work/rustic/.htpasswd"
  "$RUSTIC_SERVER" serve --path "$work/rustic" --listen "127.0.0.1:$rp" > "$work/rustic.log" 2>&1 &
  rpid=$!; pids+=("$rpid")
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$rp/" && break; sleep 0.1; done
  "$RESTIC" -q init -r "rest:http://bench:bench-pass@127.0.0.1:$rp/bench/" > /dev/null
  measure "(c) restic → rustic_server" "$rpid" "$RESTIC" -r "rest:http://bench:bench-pass@127.0.0.1:$rp/bench/" backup -q "$work/tree"
else
  echo "== (c) skipped: rustic_server not found (cargo install rustic_server --root /tmp/rustic-server)"
fi

echo "== agent"
code=$(activate agent1)
"$BIN" agent --state "$work/agent.json" activate --server "$base" --username agent1 --code "$code" --hostname bench > /dev/null
measure "(d) agent backup → console REST" "$cpid" "$BIN" agent --state "$work/agent.json" backup "$work/tree"
measure "(e) agent restore ← console REST" "$cpid" "$BIN" agent --state "$work/agent.json" restore --snapshot latest --target "$work/restore-agent"
measure "(f) restic restore ← console REST" "$cpid" "$RESTIC" -r "$repo_b" restore latest --target "$work/restore-restic"
diff -r "$work/tree" "$work/restore-agent$work/tree" > /dev/null && echo "agent restore: identical"
diff -r "$work/tree" "$work/restore-restic$work/tree" > /dev/null && echo "restic restore: identical"

#!/bin/sh
# Regenerate reports/samples: a real scan, through the annexscan CLI, of two lab hosts (good
# 127.0.0.2, legacy 127.0.0.3) with the 3douest profile and host checks over SSH, in every
# format, its raw evidence in evidence/ beside it, then the remediation playbook for its failures.
# Run as root (the lab's servers, its network namespace) from the repository: `make samples`.
set -eu
cd "$(dirname "$0")/.."
ANNEXSCAN="$(pwd)/.venv/bin/annexscan"
PYTHON="$(pwd)/.venv/bin/python"
OUT=reports/samples
# A lab of its own name (its own namespace), so a lab a user keeps up is left alone.
export ANNEXSCAN_LAB=annexscan-samples
# The lab's throw-away client key, known_hosts and CA are copied here for the scan, so the
# report records (and the inventory names) readable paths, not the lab's random temp dir.
KEYS=/run/annexscan-samples

[ "$(id -u)" = 0 ] || { echo "regenerate_samples: run as root (the lab needs it)" >&2; exit 2; }
mkdir -m 700 "$KEYS"  # fails if left over: remove it by hand, nothing here deletes what it did not make
STAGE=$(mktemp -d)
cleanup() { "$ANNEXSCAN" lab down >/dev/null || true; rm -rf "$KEYS" "$STAGE"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ANNEXSCAN" lab up >/dev/null
lab_file() {  # the path the running lab's state records under $1
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "/run/annexscan-lab/$ANNEXSCAN_LAB.json" "$1"
}
install -m 600 "$(lab_file ssh_key)" "$KEYS/lab_key"
install -m 644 "$(lab_file known_hosts)" "$KEYS/known_hosts"
install -m 644 "$(lab_file ca_bundle)" "$KEYS/lab_ca.pem"

code=0
"$ANNEXSCAN" lab exec -- "$ANNEXSCAN" scan 127.0.0.2 127.0.0.3 --profile 3douest \
  --ca-bundle "$KEYS/lab_ca.pem" --ssh-user root --ssh-key "$KEYS/lab_key" \
  --known-hosts "$KEYS/known_hosts" --no-agent --no-progress \
  --format json,junit,sarif,csv,html,oscal -o "$STAGE/scan" || code=$?
case $code in  # 1: the lab fails clauses, as it is built to; 3: some could not be judged
  0|1|3) ;;
  *) echo "regenerate_samples: the scan exited $code; the samples are unchanged" >&2; exit 1;;
esac

rm -rf "$OUT/evidence" "$OUT"/annexscan.* "$OUT"/fix.yml "$OUT"/fix.inventory.yml
mkdir -p "$OUT"
cp "$STAGE/scan"/annexscan.* "$OUT"/
cp -R "$STAGE/scan/evidence" "$OUT"/evidence
"$ANNEXSCAN" remediate "$OUT/annexscan.json" -o "$OUT/fix.yml"

# No secret may reach the samples: not the lab's private key, nor any key or password hash a
# host check read (the scan replaces them with a note; this checks it did). Names files only.
key_line=$(sed -n 2p "$KEYS/lab_key")
leaks=$(find "$OUT" -type f | sort | while read -r file; do
  case $file in *.gz) reader=zcat;; *) reader=cat;; esac
  if "$reader" "$file" | grep -qF -e "$key_line" -e "PRIVATE KEY-----" ||
     "$reader" "$file" | grep -qE '[$](1|2[aby]|5|6|y|gy|7)[$][./=A-Za-z0-9]{2,}[$]'; then
    echo "$file"
  fi
done)
if [ -n "$leaks" ]; then
  echo "regenerate_samples: secret material in: $leaks" >&2
  echo "regenerate_samples: samples removed, look at why" >&2
  rm -rf "$OUT/evidence" "$OUT"/annexscan.* "$OUT"/fix.yml "$OUT"/fix.inventory.yml
  exit 1
fi
echo "samples written to $OUT (scan exit $code); check them with:"
echo "  .venv/bin/python -m pytest -q tests/test_samples.py"

#!/bin/sh
# Retrains the built-in model into models/tiny (about 35 minutes on one core; see docs/builtin-model.md).
# Extra arguments go to train.py, e.g. `scripts/train-builtin/run.sh --out "$(mktemp -d)" --steps 60` for a smoke run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "installing Debian's python3-torch (needs root)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y python3-torch; else sudo apt-get install -y python3-torch; fi
fi
cd "$root"
if [ "$#" -eq 0 ]; then set -- --out models/tiny; fi
# One thread, lowered priority: the machine is shared.
exec nice -n 10 env OMP_NUM_THREADS=1 /usr/bin/python3 "$here/train.py" "$@"

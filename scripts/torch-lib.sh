# Sourced (not run) by the scripts that run a carried tsal binary on another machine:
#   . scripts/torch-lib.sh NAME
# sets `py` to a Python with torch ($TSAL_PYTHON, else /opt/torch/.venv/bin/python, else
# .venv/bin/python) and puts its torch/lib first on LD_LIBRARY_PATH, since the binary's rpath
# names the build machine's .venv. NAME prefixes the errors; a missing Python or torch exits 1.
py=${TSAL_PYTHON:-}
if [ -z "$py" ]; then
  if [ -x /opt/torch/.venv/bin/python ]; then py=/opt/torch/.venv/bin/python; else py=.venv/bin/python; fi
fi
[ -x "$py" ] || { echo "$1: no Python at $py (set TSAL_PYTHON to one with torch 2.11)" >&2; exit 1; }
torch_lib=$("$py" -c 'import os, importlib.util as u; s = u.find_spec("torch"); print(os.path.join(s.submodule_search_locations[0], "lib") if s else "")')
[ -d "$torch_lib" ] || { echo "$1: $py has no torch (libtorch is taken from it)" >&2; exit 1; }
export LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

"""Convert a PyTorch checkpoint into a flat safetensors file that tsal loads by name.

tsal reads these checkpoints directly too (src/models/torch_pickle.rs); this is for when a
safetensors copy is wanted.

Handles ARFlow-style nested checkpoints ({'epoch': ..., 'state_dict': {...}}, as the
reference's MFEM.tar / MFEM_student.tar and ARFlow's pwclite_*.tar), plain state_dicts, and
DataParallel's `module.` prefixes. Non-tensor entries are dropped and listed.

usage: .venv/bin/python flowweight/convert.py CHECKPOINT OUT.safetensors
"""
import sys

import torch
from safetensors.torch import save_file


def unpack(obj):
    """The state_dict inside a checkpoint object."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        return obj["state_dict"]
    if isinstance(obj, dict):
        return obj
    raise SystemExit(f"not a checkpoint: found a {type(obj).__name__}, expected a dict of tensors")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    src, dst = sys.argv[1], sys.argv[2]
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle that is not a PyTorch checkpoint, a truncated file, ...
        raise SystemExit(f"{src}: cannot read as a PyTorch checkpoint: {e}")
    sd = unpack(obj)
    tensors, skipped = {}, []
    for k, v in sd.items():
        if not torch.is_tensor(v):
            skipped.append(k)
            continue
        name = k[len("module."):] if k.startswith("module.") else k
        tensors[name] = v.detach().cpu().contiguous()
    if not tensors:
        raise SystemExit(f"{src}: no tensors found")
    save_file(tensors, dst)
    n = sum(t.numel() for t in tensors.values())
    print(f"{dst}: {len(tensors)} tensors, {n} values" + (f"; skipped non-tensors: {', '.join(skipped)}" if skipped else ""))


if __name__ == "__main__":
    main()

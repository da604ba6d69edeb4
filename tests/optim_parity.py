"""PyTorch reference for tsal's optimiser and LR schedule (tests/optim.rs).

usage: optim_parity.py DIR

DIR/spec.json lists optimiser cases and schedules; tensors are raw little-endian float32 files
(shape in the JSON). For each case this builds torch.optim.SGD or torch.optim.Adam
(foreach=False, PyTorch's per-tensor path) over the given parameter groups, and per step sets
the group LRs to base_lr * lr_mult, sets every .grad (None when the step lists no gradient for
a parameter), calls step(), and finally writes the parameters to DIR/<case out>/<name>.f32.
For each schedule it records MultiStepLR's LR during epochs 0..epochs-1 (stepped at the end of
every epoch) and writes all of them to DIR/schedules_out.json. Prints "optim parity: done".
Plain torch only: no safetensors or numpy needed.
"""
import json
import os
import struct
import sys

import torch


def read_f32(path, shape):
    with open(path, "rb") as f:
        data = f.read()
    values = struct.unpack(f"<{len(data) // 4}f", data)
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def write_f32(path, t):
    with open(path, "wb") as f:
        values = t.detach().to(torch.float32).flatten().tolist()
        f.write(struct.pack(f"<{len(values)}f", *values))


def run_case(root, case):
    params = {
        name: torch.nn.Parameter(read_f32(os.path.join(root, p["file"]), p["shape"]))
        for name, p in case["params"].items()
    }
    groups = [
        {"params": [params[n] for n in g["params"]], "lr": 0.0, "weight_decay": g["weight_decay"]}
        for g in case["groups"]
    ]
    if case["optimizer"] == "sgd":
        opt = torch.optim.SGD(
            groups,
            lr=0.0,
            momentum=case["momentum"],
            dampening=0,
            nesterov=case["nesterov"],
            foreach=False,
        )
    elif case["optimizer"] == "adam":
        opt = torch.optim.Adam(
            groups, lr=0.0, betas=(0.9, 0.999), eps=1e-8, amsgrad=False, foreach=False
        )
    else:
        raise SystemExit(f"unknown optimizer {case['optimizer']}")
    for step in case["steps"]:
        for pg, g in zip(opt.param_groups, case["groups"]):
            pg["lr"] = step["base_lr"] * g["lr_mult"]
        for name, p in params.items():
            f = step["grads"].get(name)
            p.grad = None if f is None else read_f32(os.path.join(root, f), p.shape)
        opt.step()
    out = os.path.join(root, case["out"])
    os.makedirs(out, exist_ok=True)
    for name, p in params.items():
        write_f32(os.path.join(out, name + ".f32"), p)


def run_schedule(s):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=s["base"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=s["milestones"], gamma=s["gamma"])
    lrs = []
    for _ in range(s["epochs"]):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "spec.json")) as f:
        spec = json.load(f)
    for case in spec["cases"]:
        run_case(root, case)
    with open(os.path.join(root, "schedules_out.json"), "w") as f:
        json.dump([run_schedule(s) for s in spec["schedules"]], f)
    print("optim parity: done")


if __name__ == "__main__":
    main()

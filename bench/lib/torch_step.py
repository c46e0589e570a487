"""PyTorch twin of anyprec's Any-Precision training step (bench/train-step.mjs drives it).

The network is anyprec's zoo.preactResnet (the Any-Precision pre-activation ResNet-20, widths
16/32/64, 3x32x32 input): DoReFa weights (tanh / max|tanh| with the mean-|w| scale, rounding passed
straight through), clamp-round activations with the clamp's gradient (ReLU at 32 bits),
switchable batch norm (one set per width; the 1x1 shortcut's BN shared), float first conv and
classifier. One step: every width high to low, the top width on the labels, each lower width on
the softened outputs of the next higher one (recursive distillation), gradients summed, one Adam
step -- anyprec's Trainer.step.

A line-oriented worker: reads JSON commands on stdin, answers one JSON line each.
  {"cmd": "config"}                      -> torch version, build config, parallel info
  {"cmd": "time", "threads": T, "steps": S, "warmup": W}  -> per-step wall and CPU seconds of S timed steps
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BITS = [32, 8, 4, 2, 1]


class WeightQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, n):  # u in [0, 1]: round(u * n) / n, gradient straight through
        return torch.round(u * n) / n

    @staticmethod
    def backward(ctx, g):
        return g, None


def quant_weight(w, bits):
    t = torch.tanh(w)
    m = t.abs().max()
    e = w.abs().mean().detach()
    if bits == 32:
        return t / m * e
    n = 2 ** bits - 1
    u = t / 2 / m + 0.5
    return (2 * WeightQ.apply(u, n) - 1) * e


class ActQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        return torch.round(torch.clamp(x, 0, 1) * n) / n

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x >= 0) & (x <= 1)).to(g.dtype), None


def act(x, bits):
    return F.relu(x) if bits == 32 else ActQ.apply(x, 2 ** bits - 1)


class QConv(nn.Conv2d):
    def forward(self, x, bits):
        return F.conv2d(x, quant_weight(self.weight, bits), None, self.stride, self.padding)


class SwitchBN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.ModuleDict({str(b): nn.BatchNorm2d(c) for b in BITS})

    def forward(self, x, bits):
        return self.bn[str(bits)](x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn0 = SwitchBN(cin)
        self.conv0 = QConv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = SwitchBN(cout)
        self.conv1 = QConv(cout, cout, 3, 1, 1, bias=False)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x, bits):
        a = act(self.bn0(x, bits), bits)
        short = x if self.skip is None else self.skip(x)
        v = self.conv0(a, bits)
        v = self.conv1(act(self.bn1(v, bits), bits), bits)
        return v + short


class PreactResnet20(nn.Module):
    def __init__(self, widths=(16, 32, 64), classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        layers, cin = [], widths[0]
        for i in range(9):
            cout = widths[i // 3]
            layers.append(Block(cin, cout, 2 if i > 0 and i % 3 == 0 else 1))
            cin = cout
        self.layers = nn.ModuleList(layers)
        self.bn = SwitchBN(cin)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x, bits):
        x = self.conv0(x)
        for layer in self.layers:
            x = layer(x, bits)
        x = self.bn(x, bits)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def make(batch=64, seed=0):
    torch.manual_seed(seed)
    net = PreactResnet20()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(batch, 3, 32, 32) * 2 - 1
    y = torch.arange(batch) % 10
    return net, opt, x, y


def step(net, opt, x, y):
    opt.zero_grad()
    teacher = None
    for bits in BITS:
        logits = net(x, bits)
        if teacher is None:
            loss = F.cross_entropy(logits, y)
        else:
            loss = -(teacher * F.log_softmax(logits, 1)).sum(1).mean()
        loss.backward()
        teacher = F.softmax(logits.detach(), 1)
    opt.step()


def main():
    net, opt, x, y = make()
    net.train()
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "config":
            out = {"torch": torch.__version__, "config": torch.__config__.show(),
                   "parallel": torch.__config__.parallel_info(), "mkldnn": torch.backends.mkldnn.is_available()}
        elif cmd["cmd"] == "time":
            torch.set_num_threads(int(cmd["threads"]))
            for _ in range(int(cmd.get("warmup", 1))):
                step(net, opt, x, y)
            times, cpu = [], []
            for _ in range(int(cmd["steps"])):
                t0, c0 = time.perf_counter(), time.process_time()
                step(net, opt, x, y)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            out = {"threads": torch.get_num_threads(), "seconds": times, "cpuSeconds": cpu}
        else:
            out = {"error": "unknown command"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

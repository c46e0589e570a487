// The plan runner (runner/runner.h): a program's ops over buffers laid out by lifetime in one arena
// give the bits of the same kernel calls on separate arrays, on every platform; buffers alive at
// the same time never share memory while dead ones are reused; a description that breaks the
// buffer rules or names a hostile size is refused when built.
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "fgemm/fgemm.h"
#include "kernels.h"
#include "runner/runner.h"
#include "test_util.h"

using namespace anyprec;
using namespace anyprec::test;

namespace {

template <typename F>
bool throwsInvalid(F f) {
  try {
    f();
  } catch (const SizeError&) {
    return false;
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

template <typename F>
bool throwsSize(F f) {
  try {
    f();
  } catch (const SizeError&) {
    return true;
  }
  return false;
}

// NCHW floats -> NHWC -> 2-bit codes -> packed 3x3 conv lowering -> GEMM (codes out) -> floats ->
// global average pool: the program against the same calls on separate arrays, at 1, 2 and 3
// threads, through the runs that measure each op's threads (every op run twice) and after them,
// and from two threads at once on their own arenas.
void checkChain(const Platform& isa, size_t n, size_t h, size_t w) {
  const size_t c = 3, o = 8;
  const int bits = 2;
  const ConvShape cs{n, h, w, c, 3, 3, 1, 1, 1, 1, 1, 1};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-0.3f, 1.3f);
  std::vector<float> x(n * c * h * w), scale(c), shift(c), gScale(o), gShift(o), table(256);
  for (float& v : x) v = uni(rng);
  for (size_t i = 0; i < c; ++i) scale[i] = 0.5f + 0.25f * i, shift[i] = 0.05f * i;
  for (size_t j = 0; j < o; ++j) gScale[j] = 0.01f * (j + 1), gShift[j] = 0.4f;
  for (size_t t = 0; t < 256; ++t) table[t] = static_cast<float>(t) / 3.0f;
  std::vector<uint8_t> wCodes(o * cs.k());
  for (uint8_t& q : wCodes) q = static_cast<uint8_t>(rng() % 4);
  const Packed weights = packWith(isa, wCodes, o, cs.k(), bits, 1);

  // The reference: each entry on its own arrays.
  std::vector<float> nhwc(x.size()), decoded(cs.rows() * o), want(n * o);
  std::vector<uint8_t> codes(x.size()), gemmOut(cs.rows() * o);
  std::vector<uint64_t> planes(packedWords(cs.rows(), cs.k(), bits));
  std::vector<int32_t> pops(cs.rows() * bits);
  nchwToNhwc(isa, x.data(), n, c, h, w, nhwc.data(), 1);
  quantizeActivations(isa, nhwc.data(), nhwc.size(), c, scale.data(), shift.data(), bits, codes.data(), 1);
  packConvInput(isa, codes.data(), cs, bits, planes.data(), pops.data(), 1);
  const GemmSpec spec{PackedView{planes.data(), cs.rows(), cs.k(), bits, pops.data()}, weights.view(), bits, bits,
                      Encoding::Unsigned, Encoding::Bipolar};
  Epilogue epi;
  epi.kind = OutputKind::Codes;
  epi.scale = gScale.data();
  epi.shift = gShift.data();
  epi.codeBits = 2;
  bitGemm(isa, spec, gemmOut.data(), epi, 1);
  codesToFloat(isa, gemmOut.data(), gemmOut.size(), table.data(), decoded.data(), 1);
  globalAvgPool(decoded.data(), n, h, w, o, want.data(), 1);

  // The program: buffers 0 input, 1 nhwc, 2 codes, 3 planes, 4 pops, 5 gemm codes, 6 floats, 7 output.
  std::vector<size_t> bytes = {x.size() * 4, x.size() * 4, codes.size(), planes.size() * 8, pops.size() * 4,
                               gemmOut.size(), decoded.size() * 4, want.size() * 4};
  size_t total = 0;
  for (size_t b : bytes) total += b;
  std::vector<std::unique_ptr<runner::Op>> ops;
  ops.push_back(runner::nchwToNhwcOp(0, 1, n, c, h, w));
  ops.push_back(runner::quantizeOp(1, 2, x.size(), c, scale.data(), shift.data(), bits));
  ops.push_back(runner::packConvOp(2, 3, 4, cs, bits));
  runner::GemmOperands g;
  g.aData = 3;
  g.aPops = 4;
  g.aRows = cs.rows();
  g.aPlanes = g.aBits = g.bBits = bits;
  g.b = weights.view();
  runner::GemmEpilogue ge;
  ge.kind = OutputKind::Codes;
  ge.scale = gScale.data();
  ge.shift = gShift.data();
  ge.codeBits = 2;
  ops.push_back(runner::gemmOp(g, ge, 5));
  ops.push_back(runner::codesToFloatOp(5, 6, decoded.size(), table.data()));
  ops.push_back(runner::globalAvgPoolOp(6, 7, n, h, w, o));
  const runner::Program program(isa, bytes, std::move(ops), 0, 7);
  EXPECT(program.arenaBytes() < total, "%s: dead buffers are reused (arena %zu of %zu bytes)", isa.name,
         program.arenaBytes(), total);
  EXPECT(program.outputBytes() == want.size() * 4, "%s: output bytes", isa.name);
  auto a1 = program.newArena(), a2 = program.newArena();
  auto runs = [&](runner::Arena* a, int threads, int count, int* bad) {
    for (int run = 0; run < count; ++run) {
      std::memcpy(a->input(), x.data(), x.size() * 4);
      program.run(*a, threads);
      if (std::memcmp(a->output(), want.data(), want.size() * 4) != 0) ++*bad;
    }
  };
  const int count = runner::Program::kMeasureRuns + 2;
  for (int threads : {1, 2, 3}) {
    EXPECT(threads == 1 ? program.opThreads(1) == std::vector<int>(program.ops(), 1) : program.opThreads(threads).empty(),
           "%s: every op on one thread at 1 thread, none measured yet at %d threads", isa.name, threads);
    int bad = 0;
    runs(a1.get(), threads, count, &bad);
    EXPECT(bad == 0, "%s %zux%zux%zu: %d of %d runs at %d threads differ from the reference bits", isa.name, n, h, w, bad,
           count, threads);
    const std::vector<int> per = program.opThreads(threads);
    EXPECT(threads == 1 || per.size() == program.ops(), "%s: each op's threads are chosen after %d runs", isa.name, count);
    for (int t : per) EXPECT(t == 1 || t == threads, "%s: an op's threads are 1 or %d, got %d", isa.name, threads, t);
  }
  // Through the first re-check at 2 threads (runs alternately on one thread and split): the same bits.
  {
    int bad = 0;
    runs(a1.get(), 2, static_cast<int>(runner::Program::kRecheckFirstAfter) + runner::Program::kRecheckRuns + 2, &bad);
    EXPECT(bad == 0, "%s %zux%zux%zu: %d runs through a re-check differ from the reference bits", isa.name, n, h, w, bad);
    for (int t : program.opThreads(2)) EXPECT(t == 1 || t == 2, "%s: after a re-check an op's threads are 1 or 2, got %d", isa.name, t);
  }
  // Splits the measuring would not choose (every other op split, 2 or 3 of 3 threads; the op rule
  // changed from "4 of 5 wins" to splitPays): the same bits, and the widths kept as set.
  {
    std::vector<int> mixed(program.ops());
    for (size_t i = 0; i < mixed.size(); ++i) mixed[i] = i % 2 == 0 ? 1 : 2 + static_cast<int>(i / 2 % 2);
    program.useOpThreads(3, mixed);
    EXPECT(program.opThreads(3) == mixed, "%s: useOpThreads sets each op's threads", isa.name);
    int bad = 0;
    runs(a1.get(), 3, 3, &bad);
    EXPECT(bad == 0, "%s %zux%zux%zu: %d runs at mixed op threads differ from the reference bits", isa.name, n, h, w, bad);
    program.useOpThreads(3, std::vector<int>(program.ops(), 1));
    runs(a1.get(), 3, 2, &bad);
    EXPECT(bad == 0, "%s: runs at 3 threads with every op on one thread (no pool hold) differ", isa.name);
    EXPECT(throwsInvalid([&] { program.useOpThreads(3, std::vector<int>(program.ops() + 1, 1)); }),
           "%s: useOpThreads wants one width per op", isa.name);
  }
  // Two callers at once, on their own arenas, while a new thread count is measured.
  int bad1 = 0, bad2 = 0;
  std::thread other([&] { runs(a2.get(), 4, count, &bad2); });
  runs(a1.get(), 4, count, &bad1);
  other.join();
  EXPECT(bad1 + bad2 == 0, "%s: %d concurrent runs differ from the reference bits", isa.name, bad1 + bad2);
}

// A run with the caller's input and output: read and written in place where every op using them
// finds them at run time (layout ops, element-wise ops), copied in or out where an op bound to the
// arena holds their address (the float convolution); the same bits as a run on the arena alone,
// and the caller's input unchanged. n x c x h x w NCHW input -> NHWC -> clamp -> (conv) -> NCHW.
void checkCallerMemory(const Platform& isa, size_t n, size_t c, size_t h, size_t w) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uni(-0.5f, 1.5f);
  const size_t count = n * c * h * w, o = 5;
  std::vector<float> x(count);
  for (float& v : x) v = uni(rng);
  const std::vector<float> x0 = x;
  const ConvShape cs{n, h, w, c, 3, 3, 1, 1, 1, 1, 1, 1};
  std::vector<float> wts(o * cs.k()), packed(floatPackedSize(o, cs.k()));
  for (float& v : wts) v = uni(rng) - 0.5f;
  packFloatPanels(wts.data(), o, cs.k(), packed.data(), 0, floatPaddedCols(o) / kFloatPanel);
  for (int variant = 0; variant < 3; ++variant) {
    // 0: transpose writes the output; 1: the conv writes it; 2: the conv reads the input.
    std::vector<std::unique_ptr<runner::Op>> ops;
    std::vector<size_t> bytes;
    FloatConvSpec spec;
    spec.shape = cs;
    spec.wPacked = packed.data();
    spec.outChannels = o;
    size_t outCount = count;
    if (variant == 2) {
      const ConvShape one{n * h * w, 1, 1, c, 1, 1, 1, 1, 0, 0, 1, 1};
      std::vector<float>& w1 = wts;  // the first c * o weights as a 1x1 conv
      spec.shape = one;
      packed.assign(floatPackedSize(o, c), 0.0f);
      packFloatPanels(w1.data(), o, c, packed.data(), 0, floatPaddedCols(o) / kFloatPanel);
      spec.wPacked = packed.data();
      outCount = n * h * w * o;
      bytes = {count * 4, outCount * 4, outCount * 4};
      ops.push_back(runner::floatConvOp(0, 1, spec));
      ops.push_back(runner::affineOp(1, 2, outCount, o, nullptr, nullptr, 0.0f, 1.0f));
    } else {
      bytes = {count * 4, count * 4, count * 4};
      ops.push_back(runner::nchwToNhwcOp(0, 1, n, c, h, w));
      ops.push_back(runner::affineOp(1, 2, count, c, nullptr, nullptr, 0.0f, 1.0f));
      if (variant == 0) {
        bytes.push_back(count * 4);
        ops.push_back(runner::transposeOp(2, 3, n, h * w, c, 4));
      } else {
        outCount = cs.rows() * o;
        bytes.push_back(outCount * 4);
        ops.push_back(runner::floatConvOp(2, 3, spec));
      }
    }
    const runner::BufferId out = static_cast<runner::BufferId>(bytes.size() - 1);
    const runner::Program program(isa, bytes, std::move(ops), 0, out);
    EXPECT(program.inputInPlace() == (variant != 2), "%s variant %d: input in place iff no bound op reads it", isa.name,
           variant);
    EXPECT(program.outputInPlace() == (variant != 1), "%s variant %d: output in place iff no bound op writes it", isa.name,
           variant);
    auto arena = program.newArena();
    std::memcpy(arena->input(), x.data(), count * 4);
    program.run(*arena, 1);
    const std::vector<float> want(reinterpret_cast<const float*>(arena->output()),
                                  reinterpret_cast<const float*>(arena->output()) + outCount);
    for (int threads : {1, 3}) {
      auto fresh = program.newArena();
      std::vector<float> got(outCount + 2, -7.0f);
      for (int run = 0; run < runner::Program::kMeasureRuns + 1; ++run)
        program.run(*fresh, threads, nullptr, x.data(), got.data() + 1);
      EXPECT(std::memcmp(got.data() + 1, want.data(), outCount * 4) == 0,
             "%s variant %d %zux%zux%zux%zu at %d threads: the caller's output differs from the arena run", isa.name,
             variant, n, c, h, w, threads);
      EXPECT(got[0] == -7.0f && got[outCount + 1] == -7.0f, "%s variant %d: nothing written outside the output",
             isa.name, variant);
      EXPECT(x == x0, "%s variant %d: the caller's input is unchanged", isa.name, variant);
    }
    // And the reference bits (variant 0: a pure clamp, in NCHW order again), also with the clamp
    // done by the layout change itself (nchwToNhwcOp's bounds, the lowering's fusion).
    if (variant == 0) {
      std::vector<std::unique_ptr<runner::Op>> fused;
      fused.push_back(runner::nchwToNhwcOp(0, 1, n, c, h, w, 0.0f, 1.0f));
      fused.push_back(runner::transposeOp(1, 2, n, h * w, c, 4));
      const runner::Program fp(isa, {count * 4, count * 4, count * 4}, std::move(fused), 0, 2);
      std::vector<float> got(count);
      auto fa = fp.newArena();
      fp.run(*fa, 1, nullptr, x.data(), got.data());
      EXPECT(got == want, "%s %zux%zux%zux%zu: the clamping layout change differs from layout change + affine", isa.name, n,
             c, h, w);
      EXPECT(throwsInvalid([&] { runner::nchwToNhwcOp(0, 1, n, c, h, w, 1.0f, 0.0f); }), "nchwToNhwc: lo > hi is refused");
      int bad = 0;
      for (size_t i = 0; i < count; ++i) bad += want[i] != std::min(1.0f, std::max(0.0f, x[i]));
      EXPECT(bad == 0, "%s: %d values of the clamped round trip differ", isa.name, bad);
    }
  }
}

// The measuring rules (runner.h): an op splits where most back-to-back pairs and the fastest run
// went to the split; the choices stay where both the fastest and the median whole run beat one thread.
void checkTuningRules() {
  using P = runner::Program;
  EXPECT(P::splitPays(3, 5, 26.7e-6, 18.4e-6), "3 of 5 pairs and a faster best: split (the old rule wanted 4 of 5)");
  EXPECT(!P::splitPays(2, 5, 26.7e-6, 18.4e-6), "2 of 5 pairs: no split, whatever the best");
  EXPECT(!P::splitPays(5, 5, 5.0e-6, 5.0e-6), "a best no faster: no split");
  EXPECT(!P::splitPays(4, 5, 5.0e-6, 5.5e-6), "a slower best: no split");
  EXPECT(P::choicesPay({3.6e-4, 3.5e-4, 3.7e-4}, {3.3e-4, 3.2e-4, 3.4e-4}), "faster fastest and median: the choices stay");
  EXPECT(!P::choicesPay({3.6e-4, 3.5e-4, 3.7e-4}, {3.3e-4, 3.9e-4, 4.0e-4}), "one lucky fast run does not keep the choices");
  EXPECT(!P::choicesPay({3.6e-4, 3.5e-4, 3.7e-4}, {3.55e-4, 3.5e-4, 3.6e-4}), "a tie goes to one thread");
  EXPECT(!P::choicesPay({}, {1.0}), "no runs: one thread");
  const std::vector<double> one{3.6e-4, 3.5e-4, 3.7e-4}, fast{3.0e-4, 2.9e-4, 3.1e-4}, faster{2.6e-4, 2.5e-4, 2.7e-4};
  EXPECT(P::bestConfig(one, fast, faster) == 2, "every op split wins on the lower median");
  EXPECT(P::bestConfig(one, faster, fast) == 1, "the per-op choices win on the lower median");
  EXPECT(P::bestConfig(one, one, fast) == 2, "only every op split pays: kept");
  EXPECT(P::bestConfig(one, {3.0e-4, 3.8e-4, 3.9e-4}, {3.6e-4, 3.7e-4, 3.8e-4}) == 0, "neither pays: one thread");
}

void checkRules(const Platform& isa) {
  std::vector<float> s(4, 1.0f);
  auto affine = [&](runner::BufferId x, runner::BufferId out) { return runner::affineOp(x, out, 4, 4, s.data(), nullptr, -1, 1); };
  auto build = [&](std::vector<size_t> bytes, std::vector<std::pair<runner::BufferId, runner::BufferId>> edges,
                   runner::BufferId in, runner::BufferId out) {
    std::vector<std::unique_ptr<runner::Op>> ops;
    for (auto [x, y] : edges) ops.push_back(affine(x, y));
    runner::Program p(isa, std::move(bytes), std::move(ops), in, out);
    return p.arenaBytes();
  };
  EXPECT(build({16, 16, 16}, {{0, 1}, {1, 2}}, 0, 2) > 0, "a valid chain builds");
  EXPECT(throwsInvalid([&] { build({16, 16, 16}, {{0, 1}, {0, 1}}, 0, 1); }), "a second writer is refused");
  EXPECT(throwsInvalid([&] { build({16, 16, 16}, {{2, 1}, {0, 2}}, 0, 1); }), "a read before the write is refused");
  EXPECT(throwsInvalid([&] { build({16, 16, 16}, {{0, 1}, {1, 0}}, 0, 1); }), "writing the input is refused");
  EXPECT(throwsInvalid([&] { build({16, 8, 16}, {{0, 1}}, 0, 1); }), "a buffer smaller than the op's write is refused");
  EXPECT(throwsInvalid([&] { build({16, 16}, {{0, 2}}, 0, 1); }), "an undeclared buffer is refused");
  EXPECT(throwsInvalid([&] { build({16, 16, 16}, {{0, 1}}, 0, 2); }), "an output no op writes is refused");
  EXPECT(throwsSize([&] { build({16, size_t{1} << 33}, {{0, 1}}, 0, 1); }), "a buffer over 4 GiB is a SizeError");
  const size_t big = size_t{1} << 31;
  EXPECT(throwsSize([&] { runner::nchwToNhwcOp(0, 1, big, big, big, big); }), "a hostile layout size is a SizeError");
  EXPECT(throwsInvalid([&] {
           runner::packConvOp(0, 1, 2, ConvShape{1, 4, 4, 2, big, 1, 1, 1, 0, 0, 1, 1}, 2);
         }), "a hostile conv shape is refused");
}

}  // namespace

int main() {
  checkTuningRules();
  for (const Platform* p : availablePlatforms()) {
    checkChain(*p, 2, 5, 4);
    checkChain(*p, 3, 37, 29);  // many GEMM and pack tasks
    checkRules(*p);
    for (size_t n : {1, 3, 17}) checkCallerMemory(*p, n, 7, 5, 9);
    checkCallerMemory(*p, 2, 64, 3, 11);
  }
  std::printf("runner: %d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}

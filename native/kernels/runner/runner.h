// anyprec kernels, runner: a compiled list of calls of the other families' entries (a Program)
// over buffers in one arena, so a whole inference is one native call that allocates nothing.
// Pure C++17 (no Node-API) and no model terms: an op is "pack these codes", "this GEMM with that
// epilogue", "this float convolution", never "a layer".
//
// Buffers. A program declares numbered buffers with their sizes in bytes; every op names the
// buffers it reads and the ones it writes. Each buffer is written by exactly one op (or is the
// program's input, filled before the first op) and read only after that; the program lays the
// buffers out in one arena by their lifetimes (first write .. last read), first fit, each on a
// cache line, so buffers alive at the same time never share memory, and an op's outputs never
// overlap its inputs (what every kernel entry requires). Every op checks at build time, with
// overflow-checked sizes (common/checked.h), that the bytes it reads or writes fit the buffers it
// names: running a built program cannot step outside its arena.
//
// Constants. Weights, prepared int8 weights and epilogue tables are pointers the program holds;
// whoever builds the program keeps that memory alive and unchanged for the program's lifetime.
//
// Arenas. Program::newArena() allocates one arena and binds every op to it (the float convolution
// plans are made here, once); a run allocates no arena memory. The GEMM plans are made at run
// time (small: they read A's row sums when constructed, and A exists only once the ops before it
// have run). One arena serves one run at a time; concurrent runs of one program each need their own.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/align.h"
#include "common/types.h"
#include "conv/conv.h"
#include "eltwise/epilogue.h"
#include "fconv/fconv.h"
#include "i8gemm/i8gemm.h"

namespace anyprec {

struct Platform;

namespace runner {

using BufferId = uint32_t;
constexpr BufferId kNoBuffer = 0xffffffffu;

// A GEMM epilogue over buffers: Epilogue (eltwise/epilogue.h) with the residual and the dual
// codes output named as buffers (kNoBuffer: none); scale / shift / codeScale / codeShift are
// constants of N floats.
struct GemmEpilogue {
  OutputKind kind = OutputKind::Float32;  // Float32 or Codes
  const float* scale = nullptr;
  const float* shift = nullptr;
  float lo = -__builtin_inff(), hi = __builtin_inff();
  int codeBits = 0;  // Codes: 1..8
  BufferId residual = kNoBuffer;  // Float32 only: M x N floats
  BufferId codes = kNoBuffer;     // Float32 only: M x N codes of the stored values
  int dualBits = 0;
  const float* codeScale = nullptr;
  const float* codeShift = nullptr;
};

// One use of a buffer by an op: `bytes` read or written from its start.
struct Use {
  BufferId buffer;
  size_t bytes;
  bool write;
};

class Op;
struct OpState;

// A program's buffers as laid out in an arena, and a run's view of one arena.
struct Layout {
  std::vector<size_t> offset;  // per buffer
  size_t bytes = 0;            // the arena
};

class Arena;

// Where a run finds each buffer: in the arena (base + layout offset), but the program's input and
// output where a run reads or writes them in the caller's memory (Program::run).
struct RunBuffers {
  uint8_t* base;
  const Layout* layout;
  BufferId input = kNoBuffer, output = kNoBuffer;
  uint8_t* inputAt = nullptr;  // read only
  uint8_t* outputAt = nullptr;
  uint8_t* operator()(BufferId id) const {
    if (id == input) return inputAt;
    if (id == output) return outputAt;
    return base + layout->offset[id];
  }
};

class Program {
 public:
  // Validates the ops' uses against `bufferBytes` (sizes in bytes, one per buffer) and lays the
  // buffers out. `input` is filled by the caller before a run (inputBytes = its size); `output` is
  // read after it. Throws std::invalid_argument naming what is wrong, SizeError for sizes.
  Program(const Platform& isa, std::vector<size_t> bufferBytes, std::vector<std::unique_ptr<Op>> ops, BufferId input,
          BufferId output);
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  size_t arenaBytes() const { return layout_.bytes; }
  size_t inputBytes() const { return bufferBytes_[input_]; }
  // Bytes the op writing the output writes (what a run hands back).
  size_t outputBytes() const { return outputBytes_; }
  size_t ops() const { return ops_.size(); }
  const Platform& isa() const { return isa_; }

  // A fresh arena with every op bound to it (plans made once here).
  std::unique_ptr<Arena> newArena() const;
  // Runs every op on `arena` with up to `threads` threads (input already in arena.input()). With
  // opMs (ops() values), each op's wall time in milliseconds is stored there.
  //
  // With `input` (inputBytes(), unchanged during the run) the run reads the input from there: in
  // place where every op using the input buffer reads it at run time (inputInPlace()), else copied
  // into the arena first. With `output` (outputBytes(), overlapping neither the input nor the
  // arena) the output ends there: written in place where every op using the output buffer finds
  // it at run time (outputInPlace()), else copied out after the last op. The same bits either way.
  //
  // Threads per op. Splitting an op pays only when its work outweighs waking and joining the
  // pool's threads, which depends on the op's size, the machine and its load: no fixed floor of
  // work per thread holds across machines (a hand-off costs ~1-2 us with a watching worker on one
  // VM, 20-60 us with a sleeping one on the same VM), so each program measures it at run time. The
  // first kTuneRuns untimed runs at a thread count above 1 run each op twice in a row, on one
  // thread and on `threads` (outputs are pure functions of inputs, so the second run rewrites the
  // same values), the order alternating from run to run; afterwards an op keeps `threads` where
  // splitPays: the split was faster in most of those pairs and its fastest run beat the fastest
  // on one thread (the fastest is the least disturbed; a majority alone is a coin toss for ops
  // whose split hardly matters), and runs on the calling thread otherwise. Then kCheckRuns whole
  // runs, 5 each as a one-thread run (no PoolHold, so the comparison includes what watching
  // workers cost the computing thread), at those choices and with every op split (noisy per-op
  // verdicts at batch 1 mix split and unsplit ops, which moves data between cores at each change),
  // interleaved, check them as a whole (bestConfig): a split configuration stays only where both
  // its fastest and its median run beat those on one thread (choicesPay; the fastest alone let a
  // few percent of noise decide), the lower median of two; else every op runs on one thread, and
  // such a program's runs hold no workers: they run as at one thread (never slower than one
  // thread but for the measuring runs). The verdict is re-checked as the program keeps running
  // (kRecheckRuns runs, one thread against the split configuration, after kRecheckFirstAfter
  // runs, then at doubling intervals): a machine's load, and how a host schedules a VM's vCPUs,
  // change after the first runs.
  // Results are the same bits at any thread count. A new thread count measures again;
  // concurrent runs while one measures use `threads` for every op; timed runs (opMs) never measure.
  void run(Arena& arena, int threads, double* opMs = nullptr, const void* input = nullptr, void* output = nullptr) const;
  // Whether a run with a caller's input / output reads / writes it in place (no copy).
  bool inputInPlace() const { return inputInPlace_; }
  bool outputInPlace() const { return outputInPlace_; }
  // Each op's threads for runs at `threads` (all 1 at one thread; empty until the kMeasureRuns
  // measuring runs at `threads` are done).
  std::vector<int> opThreads(int threads) const;
  // Sets each op's threads for runs at `threads` > 1 (clamped to 1..threads; ops() values), as if
  // measured: no measuring runs follow. For tests (the same bits at any split) and for callers
  // that measured elsewhere.
  void useOpThreads(int threads, std::vector<int> width) const;
  // The per-op rule: `wins` of `runs` back-to-back pairs went to the split, and the fastest times
  // (seconds) on one thread and split.
  static bool splitPays(int wins, int runs, double fastestOne, double fastestMany);
  // The whole-program check: the check runs' times on one thread and at the choices (seconds); the
  // choices stay only where both their fastest and their median (lower) run are faster.
  static bool choicesPay(std::vector<double> one, std::vector<double> chosen);
  // Of the check runs on one thread, at the per-op choices and with every op split: 0, 1 or 2, the
  // configuration kept (a split one where choicesPay; of two, the lower median).
  static int bestConfig(const std::vector<double>& one, const std::vector<double>& chosen, const std::vector<double>& all);
  static constexpr int kTuneRuns = 5;
  static constexpr int kCheckRuns = 15;
  static constexpr int kMeasureRuns = kTuneRuns + kCheckRuns;  // runs before opThreads is known
  // Re-checks of a measured program (a machine's load and the host's scheduling change after the
  // first runs): kRecheckRuns whole runs, half as one-thread runs and half at the split
  // configuration, after kRecheckFirstAfter runs, then twice as many each time up to
  // kRecheckMaxAfter (at most ~1 run in 400 then at the slower configuration).
  static constexpr int kRecheckRuns = 10;
  static constexpr uint64_t kRecheckFirstAfter = 32;
  static constexpr uint64_t kRecheckMaxAfter = 4096;

 private:
  struct OpWidths {
    int threads;
    std::vector<int> width;  // per op: 1..threads (measured: 1 or threads)
    bool split = false;      // some op runs on more than one thread
    std::vector<int> alt;    // the split configuration a re-check compares with one thread (none: no re-check)
    uint64_t recheckAfter = 0;  // runs at `threads` after the publication before the re-check
  };
  struct Recheck {
    int runs = 0;
    std::vector<double> times[2];  // one thread / split (seconds)
  };
  struct Tuning {
    int threads = 0, runs = 0;
    std::vector<int> wins;  // per op: runs in which `threads` beat one thread
    std::vector<double> opFastest;  // per op: fastest run on one thread, then on `threads` (seconds)
    std::vector<int> chosen;  // per op, after kTuneRuns: 1 or threads
    std::vector<double> checks[3];  // check runs' times (seconds): one thread / chosen / every op split
  };
  void tuneRun(const RunBuffers& b, Arena& arena, int threads) const;
  void publishWidths(int threads, std::vector<int> width, std::vector<int> alt, uint64_t recheckAfter) const;
  void recheckRun(const RunBuffers& b, Arena& arena, const OpWidths& w) const;
  mutable Recheck recheck_;                        // guarded by tuneBusy_
  mutable std::atomic<uint64_t> runsSince_{0};     // runs at the published widths since publication
  void runOps(const RunBuffers& b, Arena& arena, int threads, double* opMs) const;
  // Held (true) by the one run that measures; a flag, not a mutex's try_lock, which a glibc >= 2.34
  // link binds at GLIBC_2.34 (the prebuilds' floor is 2.32).
  mutable std::atomic<bool> tuneBusy_{false};
  mutable Tuning tuning_;                          // guarded by tuneBusy_
  mutable std::shared_ptr<const OpWidths> widths_;  // std::atomic_load / atomic_store
  const Platform& isa_;
  std::vector<size_t> bufferBytes_;
  std::vector<std::unique_ptr<Op>> ops_;
  BufferId input_, output_;
  size_t outputBytes_ = 0;
  Layout layout_;
  bool inputInPlace_ = false, outputInPlace_ = false;
};

class Arena {
 public:
  ~Arena();
  uint8_t* input() const { return input_; }
  const uint8_t* output() const { return output_; }

 private:
  friend class Program;
  Arena() = default;
  AlignedArray<uint8_t> memory_;
  uint8_t* input_ = nullptr;
  uint8_t* output_ = nullptr;
  std::vector<std::unique_ptr<OpState>> states_;
};

// What an op binds to an arena (its kernel plans); owned by the arena.
struct OpState {
  virtual ~OpState() = default;
};

// One call of a kernel entry over arena buffers. Made with the factories below.
class Op {
 public:
  virtual ~Op() = default;
  // What the op reads and writes (sizes checked against the buffers by the Program).
  virtual void uses(std::vector<Use>* out) const = 0;
  // Binds the op to an arena whose buffers start at base + layout.offset[id] (nullptr: nothing).
  // What bind captures of the buffers' addresses: false (the default) when the op finds every
  // buffer through run()'s RunBuffers, so a run may place the program's input or output elsewhere.
  virtual std::unique_ptr<OpState> bind(const Platform& isa, uint8_t* base, const Layout& layout) const;
  virtual bool bindsBuffers() const { return false; }
  virtual void run(const Platform& isa, const RunBuffers& buffers, OpState* state, int threads) const = 0;
};

// ---- the ops (each a call of an existing kernel entry; every size checked here) -----------------
// NCHW floats -> NHWC, each value clamped to [lo, hi] on the way (eltwise transposeFloats: the
// clamp of a following channelAffine without scale and shift, in the same pass).
std::unique_ptr<Op> nchwToNhwcOp(BufferId x, BufferId out, size_t n, size_t c, size_t h, size_t w,
                                 float lo = -__builtin_inff(), float hi = __builtin_inff());
// Per sample, a rows x cols matrix of `elemBytes`-byte elements (1 or 4) transposed to cols x rows:
// NHWC -> NCHW with rows = h * w, cols = c (floats through eltwise transposeFloats; bytes copied).
std::unique_ptr<Op> transposeOp(BufferId x, BufferId out, size_t n, size_t rows, size_t cols, size_t elemBytes);
// The float convolution (fconv): spec.x ignored (read from `x`); codeBits > 0 writes codes.
// Float output only, each optional (kNoBuffer: none; spec.residual / spec.next ignored, read from
// these): `residual` (rows x outChannels floats added to the output) and `next` (the second
// output of FloatConvSpec: floats, or codes when spec.nextBits > 0).
std::unique_ptr<Op> floatConvOp(BufferId x, BufferId out, const FloatConvSpec& spec, BufferId residual = kNoBuffer,
                                BufferId next = kNoBuffer);
// quantizeActivations / channelAffine over `count` floats, channel = i % channels (eltwise).
std::unique_ptr<Op> quantizeOp(BufferId x, BufferId out, size_t count, size_t channels, const float* scale,
                               const float* shift, int bits);
std::unique_ptr<Op> affineOp(BufferId x, BufferId out, size_t count, size_t channels, const float* scale,
                             const float* shift, float lo, float hi);
// codes -> floats through a table of 256 values (any code indexes it).
std::unique_ptr<Op> codesToFloatOp(BufferId x, BufferId out, size_t count, const float* table256);
// out = a + b, `count` floats (eltwise addFloats).
std::unique_ptr<Op> addOp(BufferId a, BufferId b, BufferId out, size_t count);
std::unique_ptr<Op> globalAvgPoolOp(BufferId x, BufferId out, size_t n, size_t h, size_t w, size_t c);
// NHWC max pooling of codes (elemBytes 1) or floats (4).
std::unique_ptr<Op> maxPoolOp(BufferId x, BufferId out, const PoolShape& shape, size_t elemBytes);
// Codes (rows x k, row-major) packed into bit planes: words to `data`, plane popcounts to `pops`.
std::unique_ptr<Op> packOp(BufferId x, BufferId data, BufferId pops, size_t rows, size_t k, int planes);
// NHWC codes lowered for a convolution and packed (conv packConvInput).
std::unique_ptr<Op> packConvOp(BufferId x, BufferId data, BufferId pops, const ConvShape& shape, int planes);
// The GEMM entry on a packed A in the arena (`aData`/`aPops`, aRows x k with aPlanes planes) and
// constant packed weights b; int8 != nullptr runs the int8 path with those prepared weights.
struct GemmOperands {
  BufferId aData = kNoBuffer, aPops = kNoBuffer;
  size_t aRows = 0;
  int aPlanes = 0, aBits = 0, bBits = 0;
  Encoding aEnc = Encoding::Unsigned, bEnc = Encoding::Bipolar;
  PackedView b{};
  const I8Weights* int8 = nullptr;  // held by the caller like every constant
};
std::unique_ptr<Op> gemmOp(const GemmOperands& g, const GemmEpilogue& e, BufferId out);
// The int8 route from NHWC codes (a linear layer: the 1x1 conv of an M x 1 x 1 x K image), with
// prepared weights (required): GemmPlan's I8Codes form.
std::unique_ptr<Op> int8CodesOp(BufferId x, const ConvShape& shape, int aBits, Encoding aEnc, const PackedView& b,
                                int bBits, Encoding bEnc, const I8Weights* int8, const GemmEpilogue& e, BufferId out);

}  // namespace runner
}  // namespace anyprec

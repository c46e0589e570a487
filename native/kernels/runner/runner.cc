#include "runner/runner.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "bitplane/pack.h"
#include "common/checked.h"
#include "common/threadpool.h"
#include "eltwise/eltwise.h"
#include "gemm/gemm.h"

namespace anyprec {
namespace runner {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

size_t floatBytes(size_t count, const char* what) { return bufferOrThrow(count, sizeof(float), what) * sizeof(float); }

template <typename T>
T* at(uint8_t* base, const Layout& layout, BufferId id) {
  return reinterpret_cast<T*>(base + layout.offset[id]);
}
template <typename T>
T* at(const RunBuffers& b, BufferId id) {
  return reinterpret_cast<T*>(b(id));
}

size_t roundUpLine(size_t bytes) {
  return addOrThrow(std::max<size_t>(bytes, 1), kCacheLine - 1, "arena buffer") / kCacheLine * kCacheLine;
}

void checkShape(const ConvShape& s) {
  const std::string bad = checkConvShape(s);
  if (!bad.empty()) fail("conv shape: " + bad);
}

// ---- layout ops ---------------------------------------------------------------------------------

class NchwToNhwc : public Op {
 public:
  NchwToNhwc(BufferId x, BufferId out, size_t n, size_t c, size_t h, size_t w, float lo, float hi)
      : x_(x), out_(out), n_(n), c_(c), h_(h), w_(w), bytes_(floatBytes(mulOrThrow({n, c, h, w}, "nchwToNhwc"), "nchwToNhwc")),
        lo_(lo), hi_(hi) {
    if (!(lo <= hi)) fail("nchwToNhwc: lo must not exceed hi");
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, bytes_, false});
    u->push_back({out_, bytes_, true});
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    transposeFloats(isa, at<const float>(b, x_), n_, c_, h_ * w_, lo_, hi_, at<float>(b, out_), threads);
  }

 private:
  BufferId x_, out_;
  size_t n_, c_, h_, w_, bytes_;
  float lo_, hi_;
};

class Transpose : public Op {
 public:
  Transpose(BufferId x, BufferId out, size_t n, size_t rows, size_t cols, size_t elemBytes)
      : x_(x), out_(out), n_(n), rows_(rows), cols_(cols), elem_(elemBytes) {
    if (elemBytes != 1 && elemBytes != 4) fail("transpose: element bytes must be 1 or 4");
    bytes_ = bufferOrThrow(mulOrThrow({n, rows, cols}, "transpose"), elemBytes, "transpose") * elemBytes;
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, bytes_, false});
    u->push_back({out_, bytes_, true});
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    if (elem_ == 4) {
      transposeFloats(isa, at<const float>(b, x_), n_, rows_, cols_, -__builtin_inff(), __builtin_inff(), at<float>(b, out_),
                      threads);
      return;
    }
    const uint8_t* x = at<const uint8_t>(b, x_);
    uint8_t* out = at<uint8_t>(b, out_);
    const size_t per = rows_ * cols_;
    for (size_t i = 0; i < n_; ++i)
      for (size_t r = 0; r < rows_; ++r)
        for (size_t c = 0; c < cols_; ++c) out[i * per + c * rows_ + r] = x[i * per + r * cols_ + c];
  }

 private:
  BufferId x_, out_;
  size_t n_, rows_, cols_, elem_, bytes_ = 0;
};

// ---- float convolution --------------------------------------------------------------------------

struct FloatConvState : OpState {
  std::unique_ptr<FloatConvPlan> plan;
};

class FloatConvOp : public Op {
 public:
  FloatConvOp(BufferId x, BufferId out, const FloatConvSpec& spec, BufferId residual, BufferId next)
      : x_(x), out_(out), residual_(residual), next_(next), spec_(spec) {
    checkShape(spec.shape);
    // Stand-ins, so that the spec check sees which optional outputs there are (bound at run time).
    spec_.residual = residual != kNoBuffer ? reinterpret_cast<const float*>(&spec_) : nullptr;
    spec_.next = next != kNoBuffer ? &spec_ : nullptr;
    const std::string bad = checkFloatConvSpec(spec_);
    if (!bad.empty()) fail("floatConv: " + bad);
    if (spec.wPacked == nullptr) fail("floatConv: no weights");
    inBytes_ = floatBytes(spec.shape.inputCount(), "floatConv input");
    const size_t cells = mulOrThrow({spec.shape.rows(), spec.outChannels}, "floatConv output");
    const size_t elem = spec.codeBits > 0 ? 1 : sizeof(float);
    outBytes_ = bufferOrThrow(cells, elem, "floatConv output") * elem;
    cellBytes_ = floatBytes(cells, "floatConv output");
    nextBytes_ = spec.nextBits > 0 ? cells : cellBytes_;
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, inBytes_, false});
    if (residual_ != kNoBuffer) u->push_back({residual_, cellBytes_, false});
    u->push_back({out_, outBytes_, true});
    if (next_ != kNoBuffer) u->push_back({next_, nextBytes_, true});
  }
  std::unique_ptr<OpState> bind(const Platform& isa, uint8_t* base, const Layout& l) const override {
    FloatConvSpec s = spec_;
    s.x = at<const float>(base, l, x_);
    s.residual = residual_ != kNoBuffer ? at<const float>(base, l, residual_) : nullptr;
    s.next = next_ != kNoBuffer ? at<void>(base, l, next_) : nullptr;
    auto st = std::make_unique<FloatConvState>();
    st->plan = std::make_unique<FloatConvPlan>(isa, s, at<void>(base, l, out_));
    return st;
  }
  bool bindsBuffers() const override { return true; }  // the plan holds x, residual, next and out
  void run(const Platform&, const RunBuffers&, OpState* state, int threads) const override {
    const FloatConvPlan& plan = *static_cast<FloatConvState*>(state)->plan;
    parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
  }

 private:
  BufferId x_, out_, residual_, next_;
  FloatConvSpec spec_;
  size_t inBytes_, outBytes_, cellBytes_, nextBytes_;
};

// ---- element-wise -------------------------------------------------------------------------------

class Eltwise : public Op {
 public:
  enum class Kind { Quantize, Affine };
  Eltwise(Kind kind, BufferId x, BufferId out, size_t count, size_t channels, const float* scale, const float* shift,
          int bits, float lo, float hi)
      : kind_(kind), x_(x), out_(out), count_(count), channels_(channels), scale_(scale), shift_(shift), bits_(bits),
        lo_(lo), hi_(hi) {
    if (channels == 0 || count % channels != 0) fail("element-wise op: count must be a multiple of channels >= 1");
    if (kind == Kind::Quantize && (bits < 1 || bits > 8)) fail("quantize: bits must be 1..8");
    if (kind == Kind::Affine && !(lo <= hi)) fail("affine: lo must not exceed hi");
    bytes_ = floatBytes(count, "element-wise op");
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, bytes_, false});
    u->push_back({out_, kind_ == Kind::Quantize ? count_ : bytes_, true});
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    const float* x = at<const float>(b, x_);
    if (kind_ == Kind::Quantize)
      quantizeActivations(isa, x, count_, channels_, scale_, shift_, bits_, at<uint8_t>(b, out_), threads);
    else
      channelAffine(isa, x, count_, channels_, scale_, shift_, lo_, hi_, at<float>(b, out_), threads);
  }

 private:
  Kind kind_;
  BufferId x_, out_;
  size_t count_, channels_;
  const float *scale_, *shift_;
  int bits_;
  float lo_, hi_;
  size_t bytes_;
};

class CodesToFloatOp : public Op {
 public:
  CodesToFloatOp(BufferId x, BufferId out, size_t count, const float* table256)
      : x_(x), out_(out), count_(count), bytes_(floatBytes(count, "codesToFloat")) {
    std::memcpy(table_.data(), table256, sizeof(float) * table_.size());
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, count_, false});
    u->push_back({out_, bytes_, true});
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    codesToFloat(isa, at<const uint8_t>(b, x_), count_, table_.data(), at<float>(b, out_), threads);
  }

 private:
  BufferId x_, out_;
  size_t count_, bytes_;
  std::array<float, 256> table_{};
};

class Add : public Op {
 public:
  Add(BufferId a, BufferId b, BufferId out, size_t count)
      : a_(a), b_(b), out_(out), count_(count), bytes_(floatBytes(count, "add")) {}
  void uses(std::vector<Use>* u) const override {
    u->push_back({a_, bytes_, false});
    u->push_back({b_, bytes_, false});
    u->push_back({out_, bytes_, true});
  }
  void run(const Platform&, const RunBuffers& b, OpState*, int threads) const override {
    addFloats(at<const float>(b, a_), at<const float>(b, b_), count_, at<float>(b, out_), threads);
  }

 private:
  BufferId a_, b_, out_;
  size_t count_, bytes_;
};

class GlobalAvgPool : public Op {
 public:
  GlobalAvgPool(BufferId x, BufferId out, size_t n, size_t h, size_t w, size_t c)
      : x_(x), out_(out), n_(n), h_(h), w_(w), c_(c),
        inBytes_(floatBytes(mulOrThrow({n, h, w, c}, "globalAvgPool"), "globalAvgPool")),
        outBytes_(floatBytes(mulOrThrow({n, c}, "globalAvgPool"), "globalAvgPool")) {
    if (n == 0 || h == 0 || w == 0 || c == 0) fail("globalAvgPool: every size must be positive");
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, inBytes_, false});
    u->push_back({out_, outBytes_, true});
  }
  void run(const Platform&, const RunBuffers& b, OpState*, int threads) const override {
    globalAvgPool(at<const float>(b, x_), n_, h_, w_, c_, at<float>(b, out_), threads);
  }

 private:
  BufferId x_, out_;
  size_t n_, h_, w_, c_, inBytes_, outBytes_;
};

class MaxPool : public Op {
 public:
  MaxPool(BufferId x, BufferId out, const PoolShape& s, size_t elemBytes) : x_(x), out_(out), s_(s), elem_(elemBytes) {
    const std::string bad = checkPoolShape(s);
    if (!bad.empty()) fail("pool shape: " + bad);
    if (elemBytes != 1 && elemBytes != 4) fail("maxPool: element bytes must be 1 or 4");
    inBytes_ = bufferOrThrow(s.inputCount(), elemBytes, "maxPool input") * elemBytes;
    outBytes_ = bufferOrThrow(s.outputCount(), elemBytes, "maxPool output") * elemBytes;
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, inBytes_, false});
    u->push_back({out_, outBytes_, true});
  }
  void run(const Platform&, const RunBuffers& b, OpState*, int threads) const override {
    if (elem_ == 1) maxPool(at<const uint8_t>(b, x_), s_, at<uint8_t>(b, out_), threads);
    else maxPool(at<const float>(b, x_), s_, at<float>(b, out_), threads);
  }

 private:
  BufferId x_, out_;
  PoolShape s_;
  size_t elem_, inBytes_ = 0, outBytes_ = 0;
};

// ---- packing ------------------------------------------------------------------------------------

class Pack : public Op {
 public:
  // conv: lowered for `shape`; else rows x k codes.
  Pack(BufferId x, BufferId data, BufferId pops, const ConvShape* shape, size_t rows, size_t k, int planes)
      : x_(x), data_(data), pops_(pops), conv_(shape != nullptr), planes_(planes) {
    if (planes < 1 || planes > 8) fail("pack: planes must be 1..8");
    if (conv_) {
      checkShape(*shape);
      shape_ = *shape;
      rows = shape->rows();
      k = shape->k();
      inBytes_ = shape->inputCount();
    } else {
      if (rows == 0 || k == 0) fail("pack: rows and k must be positive");
      inBytes_ = bufferOrThrow(mulOrThrow({rows, k}, "pack input"), 1, "pack input");
    }
    rows_ = rows;
    k_ = k;
    dataBytes_ = bufferOrThrow(packedWordsChecked(rows, k, planes), sizeof(uint64_t), "packed words") * sizeof(uint64_t);
    popBytes_ = bufferOrThrow(planePopCountChecked(rows, planes), sizeof(int32_t), "plane popcounts") * sizeof(int32_t);
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, inBytes_, false});
    u->push_back({data_, dataBytes_, true});
    u->push_back({pops_, popBytes_, true});
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    const uint8_t* codes = at<const uint8_t>(b, x_);
    uint64_t* data = at<uint64_t>(b, data_);
    int32_t* pops = at<int32_t>(b, pops_);
    if (conv_) packConvInput(isa, codes, shape_, planes_, data, pops, threads);
    else pack(isa, codes, rows_, k_, planes_, data, pops, threads);
  }

 private:
  BufferId x_, data_, pops_;
  bool conv_;
  ConvShape shape_{};
  int planes_;
  size_t rows_ = 0, k_ = 0, inBytes_ = 0, dataBytes_ = 0, popBytes_ = 0;
};

// ---- GEMMs --------------------------------------------------------------------------------------

// What the two GEMM ops share: the epilogue over buffers, the output and their checks. Their
// GemmPlan is made at run time: it reads A's row sums (plane popcounts, or the codes' prefix
// sums) when constructed, and A is only there once the ops before have run.
class GemmBase : public Op {
 public:
  GemmBase(const GemmSpec& spec, const I8Weights* int8, const GemmEpilogue& e, BufferId out)
      : spec_(spec), int8_(int8), e_(e), out_(out) {
    const CheckResult r = checkGemm(spec);
    if (r.kind != ErrorKind::None) fail(r.message);
    if (int8 != nullptr) {
      const std::string bad = checkI8Weights(spec, *int8);
      if (!bad.empty()) fail("int8 weights do not fit b: " + bad);
    }
    const size_t m = spec.a.rows, n = spec.b.rows;
    if (e.kind != OutputKind::Float32 && e.kind != OutputKind::Codes) fail("gemm: the epilogue must write floats or codes");
    if (e.scale == nullptr) fail("gemm: the epilogue needs a scale");
    if (e.kind == OutputKind::Codes && (e.codeBits < 1 || e.codeBits > 8)) fail("gemm: epilogue bits must be 1..8");
    if (e.kind == OutputKind::Codes && (e.residual != kNoBuffer || e.codes != kNoBuffer))
      fail("gemm: a residual or dual codes need a float epilogue");
    if (e.kind == OutputKind::Float32 && !(e.lo <= e.hi)) fail("gemm: epilogue min must not exceed max");
    if (e.codes != kNoBuffer && (e.dualBits < 1 || e.dualBits > 8 || e.codeScale == nullptr || e.codeShift == nullptr))
      fail("gemm: dual codes need bits 1..8, a scale and a shift");
    cells_ = gemmOutputCount(m, n, 1);
    outBytes_ = gemmOutputCount(m, n, outputElementBytes(e.kind)) * outputElementBytes(e.kind);
  }
  void gemmUses(std::vector<Use>* u) const {
    if (e_.residual != kNoBuffer) u->push_back({e_.residual, cells_ * sizeof(float), false});
    u->push_back({out_, outBytes_, true});
    if (e_.codes != kNoBuffer) u->push_back({e_.codes, cells_, true});
  }
  Epilogue epilogue(const RunBuffers& b) const {
    Epilogue epi;
    epi.kind = e_.kind;
    epi.scale = e_.scale;
    epi.shift = e_.shift;
    if (e_.kind == OutputKind::Codes) {
      epi.codeBits = e_.codeBits;
      return epi;
    }
    epi.lo = e_.lo;
    epi.hi = e_.hi;
    if (e_.residual != kNoBuffer) epi.residual = at<const float>(b, e_.residual);
    if (e_.codes != kNoBuffer) {
      epi.codes = at<uint8_t>(b, e_.codes);
      epi.codeBits = e_.dualBits;
      epi.codeScale = e_.codeScale;
      epi.codeShift = e_.codeShift;
    }
    return epi;
  }

 protected:
  GemmSpec spec_;
  const I8Weights* int8_;
  GemmEpilogue e_;
  BufferId out_;
  size_t cells_ = 0, outBytes_ = 0;
};

class Gemm : public GemmBase {
 public:
  Gemm(const GemmOperands& g, const GemmEpilogue& e, BufferId out)
      : GemmBase(GemmSpec{PackedView{nullptr, g.aRows, g.b.cols, g.aPlanes, nullptr}, g.b, g.aBits, g.bBits, g.aEnc, g.bEnc},
                 g.int8, e, out),
        aData_(g.aData), aPops_(g.aPops) {
    if (g.b.data == nullptr || g.b.planePop == nullptr) fail("gemm: no weights");
    dataBytes_ = packedWordsChecked(g.aRows, g.b.cols, g.aPlanes) * sizeof(uint64_t);
    popBytes_ = planePopCountChecked(g.aRows, g.aPlanes) * sizeof(int32_t);
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({aData_, dataBytes_, false});
    u->push_back({aPops_, popBytes_, false});
    gemmUses(u);
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    GemmSpec s = spec_;
    s.a.data = at<const uint64_t>(b, aData_);
    s.a.planePop = at<const int32_t>(b, aPops_);
    runGemm(GemmPlan(isa, s, at<void>(b, out_), epilogue(b), Int8Route{nullptr, int8_}), threads);
  }

 private:
  BufferId aData_, aPops_;
  size_t dataBytes_ = 0, popBytes_ = 0;
};

class Int8CodesGemm : public GemmBase {
 public:
  Int8CodesGemm(BufferId x, const ConvShape& shape, int aBits, Encoding aEnc, const PackedView& b, int bBits,
                Encoding bEnc, const I8Weights* int8, const GemmEpilogue& e, BufferId out)
      : GemmBase(specOf(shape, aBits, aEnc, b, bBits, bEnc), int8, e, out), x_(x), shape_(shape) {
    if (int8 == nullptr) fail("int8Codes: prepared int8 weights are required");
    if (b.data == nullptr || b.planePop == nullptr) fail("int8Codes: no weights");
    inBytes_ = shape.inputCount();
  }
  void uses(std::vector<Use>* u) const override {
    u->push_back({x_, inBytes_, false});
    gemmUses(u);
  }
  void run(const Platform& isa, const RunBuffers& b, OpState*, int threads) const override {
    runGemm(GemmPlan(isa, spec_, I8Codes{at<const uint8_t>(b, x_), shape_}, at<void>(b, out_), epilogue(b),
                     Int8Route{nullptr, int8_}),
            threads);
  }

 private:
  static GemmSpec specOf(const ConvShape& shape, int aBits, Encoding aEnc, const PackedView& b, int bBits, Encoding bEnc) {
    checkShape(shape);
    if (aBits < 1 || aBits > 8) fail("int8Codes: aBits must be 1..8");
    return GemmSpec{PackedView{nullptr, shape.rows(), shape.k(), aBits, nullptr}, b, aBits, bBits, aEnc, bEnc};
  }
  BufferId x_;
  ConvShape shape_;
  size_t inBytes_ = 0;
};

}  // namespace

// ---- Op / Arena / Program -----------------------------------------------------------------------

std::unique_ptr<OpState> Op::bind(const Platform&, uint8_t*, const Layout&) const { return nullptr; }

Arena::~Arena() = default;
Program::~Program() = default;

Program::Program(const Platform& isa, std::vector<size_t> bufferBytes, std::vector<std::unique_ptr<Op>> ops,
                 BufferId input, BufferId output)
    : isa_(isa), bufferBytes_(std::move(bufferBytes)), ops_(std::move(ops)), input_(input), output_(output) {
  const size_t count = bufferBytes_.size();
  if (input >= count || output >= count) fail("program: input and output must be declared buffers");
  if (input == output) fail("program: the output must not be the input");
  for (size_t b = 0; b < count; ++b)
    if (bufferBytes_[b] > kMaxBufferBytes) throw SizeError("program: buffer " + std::to_string(b) + " is too large");
  // Lifetimes: the op that writes each buffer (input: before op 0) and the last op reading it.
  constexpr size_t kNever = SIZE_MAX;
  std::vector<size_t> first(count, kNever), last(count, kNever);
  first[input] = 0;
  std::vector<Use> uses;
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (!ops_[i]) fail("program: op " + std::to_string(i) + " is missing");
    uses.clear();
    ops_[i]->uses(&uses);
    for (const Use& u : uses) {
      const std::string where = "op " + std::to_string(i) + ": buffer " + std::to_string(u.buffer);
      if (u.buffer >= count) fail(where + " is not declared (" + std::to_string(count) + " buffers)");
      if (u.bytes > bufferBytes_[u.buffer])
        fail(where + " holds " + std::to_string(bufferBytes_[u.buffer]) + " bytes; the op " +
             (u.write ? "writes " : "reads ") + std::to_string(u.bytes));
      if (u.write) {
        if (first[u.buffer] != kNever) fail(where + " is written a second time (each buffer has one writer)");
        first[u.buffer] = i;  // a second write by this op is caught above
        if (u.buffer == output) outputBytes_ = u.bytes;
      } else if (first[u.buffer] == kNever || (first[u.buffer] == i && u.buffer != input)) {
        fail(where + " is read before any op writes it (or by the op writing it)");
      }
    }
    for (const Use& u : uses)
      if (!u.write) last[u.buffer] = i;
  }
  if (first[output] == kNever || output == input) fail("program: no op writes the output buffer");
  // A caller's input / output can stand in for the arena's where no op captured the buffer's
  // address when bound (every use goes through RunBuffers) and no op reads past the output's
  // outputBytes() (all the caller's output holds).
  inputInPlace_ = outputInPlace_ = true;
  for (const auto& op : ops_) {
    uses.clear();
    op->uses(&uses);
    const bool binds = op->bindsBuffers();
    for (const Use& u : uses) {
      if (u.buffer == input && binds) inputInPlace_ = false;
      if (u.buffer == output && (binds || u.bytes > outputBytes_)) outputInPlace_ = false;
    }
  }
  last[output] = ops_.size();
  // First-fit layout by lifetime; buffers never read end where they are written.
  layout_.offset.assign(count, 0);
  struct Block {
    size_t offset, bytes;
  };
  std::vector<Block> free;
  size_t top = 0;
  auto place = [&](BufferId b) {
    const size_t need = roundUpLine(bufferBytes_[b]);
    for (size_t i = 0; i < free.size(); ++i) {
      if (free[i].bytes >= need) {
        layout_.offset[b] = free[i].offset;
        free[i].offset += need;
        free[i].bytes -= need;
        if (free[i].bytes == 0) free.erase(free.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
    }
    layout_.offset[b] = top;
    top = addOrThrow(top, need, "program arena");
  };
  auto release = [&](BufferId b) {
    Block blk{layout_.offset[b], roundUpLine(bufferBytes_[b])};
    auto it = std::lower_bound(free.begin(), free.end(), blk, [](const Block& a, const Block& c) { return a.offset < c.offset; });
    it = free.insert(it, blk);
    if (it + 1 != free.end() && it->offset + it->bytes == (it + 1)->offset) {
      it->bytes += (it + 1)->bytes;
      free.erase(it + 1);
    }
    if (it != free.begin() && (it - 1)->offset + (it - 1)->bytes == it->offset) {
      (it - 1)->bytes += it->bytes;
      free.erase(it);
    }
  };
  std::vector<std::vector<BufferId>> born(ops_.size() + 1), dies(ops_.size() + 1);
  for (BufferId b = 0; b < count; ++b) {
    if (first[b] == kNever) continue;
    if (b != input) born[first[b]].push_back(b);
    dies[last[b] == kNever ? first[b] : last[b]].push_back(b);
  }
  place(input);
  for (size_t i = 0; i < ops_.size(); ++i) {
    for (BufferId b : born[i]) place(b);
    for (BufferId b : dies[i]) release(b);
  }
  if (top > kMaxBufferBytes) throw SizeError("program arena of " + std::to_string(top) + " bytes is too large");
  layout_.bytes = top;
}

std::unique_ptr<Arena> Program::newArena() const {
  std::unique_ptr<Arena> a(new Arena());
  a->memory_ = alignedArray<uint8_t>(layout_.bytes);
  uint8_t* base = a->memory_.get();
  a->input_ = base + layout_.offset[input_];
  a->output_ = base + layout_.offset[output_];
  a->states_.reserve(ops_.size());
  for (const auto& op : ops_) a->states_.push_back(op->bind(isa_, base, layout_));
  return a;
}

void Program::run(Arena& arena, int threads, double* opMs, const void* input, void* output) const {
  uint8_t* base = arena.memory_.get();
  RunBuffers b{base, &layout_};
  if (input != nullptr) {
    if (inputInPlace_) {
      b.input = input_;
      b.inputAt = const_cast<uint8_t*>(static_cast<const uint8_t*>(input));  // only read
    } else {
      std::memcpy(arena.input_, input, bufferBytes_[input_]);
    }
  }
  if (output != nullptr && outputInPlace_) {
    b.output = output_;
    b.outputAt = static_cast<uint8_t*>(output);
  }
  runOps(b, arena, threads, opMs);
  if (output != nullptr && !outputInPlace_) std::memcpy(output, arena.output_, outputBytes_);
}

void Program::runOps(const RunBuffers& b, Arena& arena, int threads, double* opMs) const {
  threads = std::max(1, threads);
  std::shared_ptr<const OpWidths> widths;
  if (threads > 1) {
    widths = std::atomic_load(&widths_);
    if (widths && widths->threads != threads) widths.reset();
    bool idle = false;
    if (!widths && opMs == nullptr && tuneBusy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) {
      struct Release {
        std::atomic<bool>& busy;
        ~Release() { busy.store(false, std::memory_order_release); }
      } release{tuneBusy_};
      tuneRun(b, arena, threads);
      return;
    }
    if (widths && !widths->alt.empty() && opMs == nullptr &&
        runsSince_.fetch_add(1, std::memory_order_relaxed) + 1 >= widths->recheckAfter &&
        tuneBusy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) {
      struct Release {
        std::atomic<bool>& busy;
        ~Release() { busy.store(false, std::memory_order_release); }
      } release{tuneBusy_};
      const std::shared_ptr<const OpWidths> now = std::atomic_load(&widths_);
      if (now == widths) {  // not republished meanwhile
        recheckRun(b, arena, *widths);
        return;
      }
    }
  }
  // The workers watch through the whole run (where watching is free), not only within each op; but
  // a program whose ops all run on one thread at this count runs exactly as at one thread, without
  // a hold: a watching worker can only cost the computing thread (a shared core, a busy host).
  const PoolHold hold(threads > 1 && (!widths || widths->split));
  auto width = [&](size_t i) { return widths ? widths->width[i] : threads; };
  if (opMs == nullptr) {
    for (size_t i = 0; i < ops_.size(); ++i) ops_[i]->run(isa_, b, arena.states_[i].get(), width(i));
    return;
  }
  using Clock = std::chrono::steady_clock;
  for (size_t i = 0; i < ops_.size(); ++i) {
    const Clock::time_point t0 = Clock::now();
    ops_[i]->run(isa_, b, arena.states_[i].get(), width(i));
    opMs[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
}

bool Program::splitPays(int wins, int runs, double fastestOne, double fastestMany) {
  return 2 * wins > runs && fastestMany < fastestOne;
}

namespace {
// The lower median of a set of run times (the middle one of an odd count).
double lowerMedian(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + (v.size() - 1) / 2, v.end());
  return v[(v.size() - 1) / 2];
}
}  // namespace

bool Program::choicesPay(std::vector<double> one, std::vector<double> chosen) {
  if (one.empty() || chosen.empty()) return false;
  return *std::min_element(chosen.begin(), chosen.end()) < *std::min_element(one.begin(), one.end()) &&
         lowerMedian(chosen) < lowerMedian(one);
}

int Program::bestConfig(const std::vector<double>& one, const std::vector<double>& chosen, const std::vector<double>& all) {
  const bool c = choicesPay(one, chosen), a = choicesPay(one, all);
  if (c && a) return lowerMedian(all) < lowerMedian(chosen) ? 2 : 1;
  return c ? 1 : a ? 2 : 0;
}

void Program::publishWidths(int threads, std::vector<int> width, std::vector<int> alt, uint64_t recheckAfter) const {
  auto done = std::make_shared<OpWidths>();
  done->threads = threads;
  done->split = std::any_of(width.begin(), width.end(), [](int w) { return w > 1; });
  done->width = std::move(width);
  done->alt = std::move(alt);
  done->recheckAfter = recheckAfter;
  runsSince_.store(0, std::memory_order_relaxed);
  std::atomic_store(&widths_, std::shared_ptr<const OpWidths>(std::move(done)));
}

// One run of a re-check (tuneBusy_ held): kRecheckRuns whole runs, alternately (ABBA) as a
// one-thread run and at the split configuration; then the faster by choicesPay is published, and
// the next re-check comes after twice as many runs (up to kRecheckMaxAfter).
void Program::recheckRun(const RunBuffers& b, Arena& arena, const OpWidths& w) const {
  if (recheck_.runs == 0) recheck_.times[0].clear(), recheck_.times[1].clear();
  const bool split = ((recheck_.runs + 1) / 2) % 2 == 0;  // split, one, one, split, ...
  const PoolHold hold(split);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  for (size_t i = 0; i < ops_.size(); ++i) ops_[i]->run(isa_, b, arena.states_[i].get(), split ? w.alt[i] : 1);
  recheck_.times[split ? 1 : 0].push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  if (++recheck_.runs < kRecheckRuns) return;
  recheck_.runs = 0;
  const uint64_t next = std::min<uint64_t>(2 * w.recheckAfter, kRecheckMaxAfter);
  if (choicesPay(recheck_.times[0], recheck_.times[1])) publishWidths(w.threads, w.alt, w.alt, next);
  else publishWidths(w.threads, std::vector<int>(ops_.size(), 1), w.alt, next);
}

void Program::useOpThreads(int threads, std::vector<int> width) const {
  if (threads <= 1) return;
  if (width.size() != ops_.size()) fail("useOpThreads: one width per op");
  for (int& w : width) w = std::min(std::max(w, 1), threads);
  publishWidths(threads, std::move(width), {}, 0);
}

// One measuring run (tuneBusy_ held): kTuneRuns of every op on one thread and on `threads`, back to
// back; then kCheckRuns whole runs at the chosen widths or all on one thread.
void Program::tuneRun(const RunBuffers& b, Arena& arena, int threads) const {
  const size_t count = ops_.size();
  if (tuning_.threads != threads)
    tuning_ = Tuning{threads, 0, std::vector<int>(count, 0), std::vector<double>(2 * count, 1e300), {}, {}};
  using Clock = std::chrono::steady_clock;
  auto publish = [&](std::vector<int> width) {  // no re-check: no split configuration to try
    publishWidths(threads, std::move(width), {}, 0);
    tuning_ = Tuning{};
  };
  if (tuning_.runs < kTuneRuns) {
    const PoolHold hold;  // as the runs at the chosen widths will hold it
    const bool manyFirst = tuning_.runs % 2 == 1;
    for (size_t i = 0; i < count; ++i) {
      double took[2];
      for (int pass = 0; pass < 2; ++pass) {
        const bool many = (pass == 0) == manyFirst;
        const Clock::time_point t0 = Clock::now();
        ops_[i]->run(isa_, b, arena.states_[i].get(), many ? threads : 1);
        took[many ? 1 : 0] = std::chrono::duration<double>(Clock::now() - t0).count();
      }
      if (took[1] < took[0]) ++tuning_.wins[i];
      for (int k = 0; k < 2; ++k) tuning_.opFastest[2 * i + k] = std::min(tuning_.opFastest[2 * i + k], took[k]);
    }
    if (++tuning_.runs < kTuneRuns) return;
    tuning_.chosen.resize(count);
    bool any = false;
    for (size_t i = 0; i < count; ++i) {
      tuning_.chosen[i] =
          splitPays(tuning_.wins[i], kTuneRuns, tuning_.opFastest[2 * i], tuning_.opFastest[2 * i + 1]) ? threads : 1;
      any = any || tuning_.chosen[i] > 1;
    }
    // All on one thread: the per-op runs found no split that pays, not even one; checking every
    // op split as well is then not worth the runs.
    if (!any) publish(tuning_.chosen);
    return;
  }
  // Three configurations, 5 runs each, every one in each position of a triple: 0 = one thread,
  // 1 = the per-op choices, 2 = every op split. The per-op verdicts are noisy where ops take a few
  // us, and a program whose ops alternate between split and not moves data between cores at each
  // change; every op split keeps each core on its rows throughout (see the pool's two-ended jobs).
  static constexpr int kOrder[kCheckRuns] = {0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 2, 1, 2, 1, 0};
  const int config = kOrder[tuning_.runs - kTuneRuns];
  // The runs on one thread are what a one-thread run is (no hold), so "faster than one thread"
  // compares against the real thing, watching included.
  const PoolHold hold(config != 0);
  const Clock::time_point t0 = Clock::now();
  for (size_t i = 0; i < count; ++i)
    ops_[i]->run(isa_, b, arena.states_[i].get(), config == 0 ? 1 : config == 1 ? tuning_.chosen[i] : threads);
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  tuning_.checks[config].push_back(took);
  if (++tuning_.runs < kMeasureRuns) return;
  const int best = bestConfig(tuning_.checks[0], tuning_.checks[1], tuning_.checks[2]);
  // The split configuration a re-check compares with one thread: the one kept, else the one of
  // the lower median (a split that lost now may win on a quieter machine, and the other way round).
  std::vector<int> all(count, threads);
  std::vector<int> alt = best == 1 ? tuning_.chosen : best == 2 ? all
                         : lowerMedian(tuning_.checks[1]) <= lowerMedian(tuning_.checks[2]) ? tuning_.chosen : all;
  std::vector<int> width = best == 1 ? tuning_.chosen : best == 2 ? all : std::vector<int>(count, 1);
  publishWidths(threads, std::move(width), std::move(alt), kRecheckFirstAfter);
  tuning_ = Tuning{};
}

std::vector<int> Program::opThreads(int threads) const {
  if (threads <= 1) return std::vector<int>(ops_.size(), 1);
  const std::shared_ptr<const OpWidths> w = std::atomic_load(&widths_);
  if (!w || w->threads != threads) return {};
  return w->width;
}

// ---- factories ----------------------------------------------------------------------------------

std::unique_ptr<Op> nchwToNhwcOp(BufferId x, BufferId out, size_t n, size_t c, size_t h, size_t w, float lo, float hi) {
  return std::make_unique<NchwToNhwc>(x, out, n, c, h, w, lo, hi);
}
std::unique_ptr<Op> transposeOp(BufferId x, BufferId out, size_t n, size_t rows, size_t cols, size_t elemBytes) {
  return std::make_unique<Transpose>(x, out, n, rows, cols, elemBytes);
}
std::unique_ptr<Op> floatConvOp(BufferId x, BufferId out, const FloatConvSpec& spec, BufferId residual, BufferId next) {
  return std::make_unique<FloatConvOp>(x, out, spec, residual, next);
}
std::unique_ptr<Op> quantizeOp(BufferId x, BufferId out, size_t count, size_t channels, const float* scale,
                               const float* shift, int bits) {
  return std::make_unique<Eltwise>(Eltwise::Kind::Quantize, x, out, count, channels, scale, shift, bits, 0.0f, 0.0f);
}
std::unique_ptr<Op> affineOp(BufferId x, BufferId out, size_t count, size_t channels, const float* scale,
                             const float* shift, float lo, float hi) {
  return std::make_unique<Eltwise>(Eltwise::Kind::Affine, x, out, count, channels, scale, shift, 0, lo, hi);
}
std::unique_ptr<Op> codesToFloatOp(BufferId x, BufferId out, size_t count, const float* table256) {
  return std::make_unique<CodesToFloatOp>(x, out, count, table256);
}
std::unique_ptr<Op> addOp(BufferId a, BufferId b, BufferId out, size_t count) {
  return std::make_unique<Add>(a, b, out, count);
}
std::unique_ptr<Op> globalAvgPoolOp(BufferId x, BufferId out, size_t n, size_t h, size_t w, size_t c) {
  return std::make_unique<GlobalAvgPool>(x, out, n, h, w, c);
}
std::unique_ptr<Op> maxPoolOp(BufferId x, BufferId out, const PoolShape& shape, size_t elemBytes) {
  return std::make_unique<MaxPool>(x, out, shape, elemBytes);
}
std::unique_ptr<Op> packOp(BufferId x, BufferId data, BufferId pops, size_t rows, size_t k, int planes) {
  return std::make_unique<Pack>(x, data, pops, nullptr, rows, k, planes);
}
std::unique_ptr<Op> packConvOp(BufferId x, BufferId data, BufferId pops, const ConvShape& shape, int planes) {
  return std::make_unique<Pack>(x, data, pops, &shape, 0, 0, planes);
}
std::unique_ptr<Op> gemmOp(const GemmOperands& g, const GemmEpilogue& e, BufferId out) {
  return std::make_unique<Gemm>(g, e, out);
}
std::unique_ptr<Op> int8CodesOp(BufferId x, const ConvShape& shape, int aBits, Encoding aEnc, const PackedView& b,
                                int bBits, Encoding bEnc, const I8Weights* int8, const GemmEpilogue& e, BufferId out) {
  return std::make_unique<Int8CodesGemm>(x, shape, aBits, aEnc, b, bBits, bEnc, int8, e, out);
}

}  // namespace runner
}  // namespace anyprec

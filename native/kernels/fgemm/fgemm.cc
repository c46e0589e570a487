// ISA-independent driver of the float32 GEMM: B packing, blocking, tasks, A micro-panels.
#include "fgemm/fgemm.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "common/threadpool.h"

namespace anyprec {
namespace {

// K block: one NR-wide B micro-panel (kc x 32 floats = 32 KiB) stays in L1 while every row tile
// of the task streams past it; the task's packed A block (~96 rows x kc) stays in L2.
constexpr size_t kKBlock = kFloatKBlock;
constexpr size_t kTaskRowsTarget = 96;
// Each packing task moves at least ~64 KiB of B.
constexpr size_t kPackTaskFloats = size_t{1} << 14;
// Small-M path: columns per task (each task reads its B rows once, in place).
constexpr size_t kDotTaskCols = 64;
// The ISA's A packing (a register transpose) pays from this K block length on; below it the
// scalar loop was as fast or faster (K = 27 and 144 with fgemm_bench; K = 576 and 1024 gain).
constexpr size_t kPackAMinK = 256;

// The packed-B buffer cache: one buffer, handed to a plan that fits in it, given back when the
// plan ends (kept if it is larger than the cached one and at most kPackCacheMaxFloats).
constexpr size_t kPackCacheMaxFloats = size_t{32} << 20;  // 128 MiB
std::mutex gPackCacheMutex;
float* gPackCache = nullptr;
size_t gPackCacheFloats = 0;

void freePackBuffer(float* p) { ::operator delete[](p, std::align_val_t(kCacheLine)); }

std::unique_ptr<float[], FloatPackBufferRelease> takePackBuffer(size_t floats) {
  {
    std::lock_guard<std::mutex> lock(gPackCacheMutex);
    if (gPackCache != nullptr && gPackCacheFloats >= floats) {
      float* p = gPackCache;
      const size_t have = gPackCacheFloats;
      gPackCache = nullptr;
      gPackCacheFloats = 0;
      return std::unique_ptr<float[], FloatPackBufferRelease>(p, FloatPackBufferRelease{have});
    }
  }
  const size_t n = floats > 0 ? floats : 1;
  float* p = static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(kCacheLine)));
  return std::unique_ptr<float[], FloatPackBufferRelease>(p, FloatPackBufferRelease{n});
}

}  // namespace

void FloatPackBufferRelease::operator()(float* p) const {
  if (p == nullptr) return;
  if (floats <= kPackCacheMaxFloats) {
    std::lock_guard<std::mutex> lock(gPackCacheMutex);
    if (floats > gPackCacheFloats) {
      std::swap(p, gPackCache);
      gPackCacheFloats = floats;
    }
  }
  if (p != nullptr) freePackBuffer(p);
}

void packFloatPanels(const float* b, size_t n, size_t k, float* out, size_t panel0, size_t panel1) {
  for (size_t p = panel0; p < panel1; ++p) {
    float* dst = out + p * k * kFloatPanel;
    const size_t col0 = p * kFloatPanel;
    const size_t cols = col0 < n ? std::min<size_t>(kFloatPanel, n - col0) : 0;
    if (cols < static_cast<size_t>(kFloatPanel)) {
      std::memset(dst, 0, k * kFloatPanel * sizeof(float));
      for (size_t c = 0; c < cols; ++c) {
        const float* src = b + (col0 + c) * k;
        for (size_t t = 0; t < k; ++t) dst[t * kFloatPanel + c] = src[t];
      }
      continue;
    }
    // Full panel: a 16 x k transpose, done in 16 x 16 blocks. Row-at-a-time over all of k would
    // keep 16 read streams k floats apart open at once; when k * 4 bytes is a multiple of 4 KiB
    // they all fall in one L1 set and every read misses (the M = 1, K = 4096 collapse). A block
    // reads each source line once, whole.
    const float* src = b + col0 * k;
    for (size_t t0 = 0; t0 < k; t0 += kFloatPanel) {
      const size_t t1 = std::min<size_t>(k, t0 + kFloatPanel);
      for (int c = 0; c < kFloatPanel; ++c) {
        const float* s = src + c * k;
        for (size_t t = t0; t < t1; ++t) dst[t * kFloatPanel + c] = s[t];
      }
    }
  }
}

FloatTiling floatTiling(const FloatKernelTable& isa, size_t n) {
  if (isa.tileNarrow != nullptr && n <= static_cast<size_t>(kFloatPanel)) return {isa.mrNarrow, kFloatPanel, isa.tileNarrow};
  return {isa.mr, isa.nr, isa.tile};
}

size_t floatTaskRows(const FloatTiling& t) {
  const size_t mr = static_cast<size_t>(t.mr);
  return mr * std::max<size_t>(1, kTaskRowsTarget / mr);
}

void floatGemmBlock(const FloatTiling& tiling, const FloatPanelSource& a, const float* bPacked, size_t k,
                    const float* biasPadded, size_t row0, size_t row1, size_t col0, size_t col1, float* c,
                    size_t ldc) {
  const size_t mr = static_cast<size_t>(tiling.mr), nr = static_cast<size_t>(tiling.nr);
  const size_t rowTiles = (row1 - row0 + mr - 1) / mr;
  const size_t bPanelStride = k * kFloatPanel;

  // Packed A of this block for one K block: rowTiles micro-panels of kc x mr, + 16 spare floats
  // (the kernels read up to 8 past a panel, a source may write up to 15 past one).
  thread_local std::vector<float> aBuf;
  aBuf.resize(rowTiles * mr * std::min(kKBlock, k) + 16);

  FloatTileArgs t{};
  t.bPanelStride = bPanelStride;
  t.ldc = ldc;
  for (size_t k0 = 0; k0 < k; k0 += kKBlock) {
    const size_t kc = std::min(kKBlock, k - k0);
    for (size_t tile = 0; tile < rowTiles; ++tile) {
      const size_t r0 = row0 + tile * mr;
      a.pack(a.ctx, r0, std::min(mr, row1 - r0), k0, kc, tiling.mr, aBuf.data() + tile * kc * mr);
    }
    t.kc = kc;
    for (size_t c0 = col0; c0 < col1; c0 += nr) {
      t.b = bPacked + (c0 / kFloatPanel) * bPanelStride + k0 * kFloatPanel;
      t.cols = static_cast<int>(std::min(nr, col1 - c0));
      t.bias = k0 == 0 ? biasPadded + c0 : nullptr;
      for (size_t tile = 0; tile < rowTiles; ++tile) {
        const size_t r0 = row0 + tile * mr;
        t.a = aBuf.data() + tile * kc * mr;
        t.rows = static_cast<int>(std::min(mr, row1 - r0));
        t.c = c + (r0 - row0) * ldc + (c0 - col0);
        tiling.tile(t);
      }
    }
  }
}

namespace {

// The source of a raw row-major A (M x K).
struct RawA {
  const FloatKernelTable* isa;
  const float* a;
  size_t k;
};

void packRawA(const void* ctx, size_t row0, size_t rows, size_t k0, size_t kc, int mr, float* dst) {
  const RawA& s = *static_cast<const RawA*>(ctx);
  const float* src = s.a + row0 * s.k + k0;
  if (s.isa->packA != nullptr && kc >= kPackAMinK) {
    s.isa->packA(src, s.k, rows, kc, mr, dst);
    return;
  }
  const size_t m = static_cast<size_t>(mr);
  if (rows < m) std::fill(dst, dst + kc * m, 0.0f);
  for (size_t r = 0; r < rows; ++r, src += s.k)
    for (size_t kk = 0; kk < kc; ++kk) dst[kk * m + r] = src[kk];
}

}  // namespace

FloatGemmPlan::FloatGemmPlan(const FloatKernelTable& isa, const FloatGemmSpec& spec, float* c)
    : isa_(isa), s_(spec), c_(c) {
  const size_t padded = floatPaddedCols(s_.n);
  panels_ = padded / kFloatPanel;
  dot_ = isa_.dot != nullptr && s_.bPacked == nullptr && s_.m <= kFloatDotMaxRows;
  if (dot_) {
    b_ = nullptr;
    packTasks_ = panelsPerPackTask_ = 0;
    taskRows_ = kFloatDotMaxRows;
    taskCols_ = kDotTaskCols;
    tasksM_ = 1;
    tasksN_ = (s_.n + taskCols_ - 1) / taskCols_;
    if (s_.m == 0 || s_.n == 0) tasksM_ = tasksN_ = 0;
    return;
  }
  if (s_.bPacked != nullptr) {
    b_ = s_.bPacked;
    packTasks_ = panelsPerPackTask_ = 0;
  } else {
    owned_ = takePackBuffer(floatPackedSize(s_.n, s_.k));
    b_ = owned_.get();
    panelsPerPackTask_ = std::max<size_t>(1, kPackTaskFloats / std::max<size_t>(1, s_.k * kFloatPanel));
    packTasks_ = (panels_ + panelsPerPackTask_ - 1) / panelsPerPackTask_;
  }
  bias_ = alignedArray<float>(padded);
  std::fill(bias_.get(), bias_.get() + padded, 0.0f);
  if (s_.bias != nullptr) std::copy(s_.bias, s_.bias + s_.n, bias_.get());

  tiling_ = floatTiling(isa_, s_.n);
  taskRows_ = floatTaskRows(tiling_);
  taskCols_ = kFloatTaskCols;
  tasksM_ = (s_.m + taskRows_ - 1) / taskRows_;
  tasksN_ = (s_.n + taskCols_ - 1) / taskCols_;
  if (s_.m == 0 || s_.n == 0) tasksM_ = tasksN_ = 0;
}

void FloatGemmPlan::pack(size_t task) const {
  const size_t p0 = task * panelsPerPackTask_, p1 = std::min(panels_, p0 + panelsPerPackTask_);
  packFloatPanels(s_.b, s_.n, s_.k, owned_.get(), p0, p1);
}

void FloatGemmPlan::run(size_t task) const {
  if (dot_) {
    const size_t col0 = task * taskCols_, col1 = std::min(s_.n, col0 + taskCols_);
    FloatDotArgs d{};
    d.a = s_.a;
    d.rows = static_cast<int>(s_.m);
    d.b = s_.b + col0 * s_.k;
    d.cols = col1 - col0;
    d.k = s_.k;
    d.c = c_ + col0;
    d.ldc = s_.n;
    d.bias = s_.bias != nullptr ? s_.bias + col0 : nullptr;
    isa_.dot(d);
    return;
  }
  const size_t tm = task / tasksN_, tn = task % tasksN_;
  const size_t row0 = tm * taskRows_, row1 = std::min(s_.m, row0 + taskRows_);
  const size_t col0 = tn * taskCols_, col1 = std::min(s_.n, col0 + taskCols_);
  const RawA raw{&isa_, s_.a, s_.k};
  floatGemmBlock(tiling_, FloatPanelSource{packRawA, &raw}, b_, s_.k, bias_.get(), row0, row1, col0, col1,
                 c_ + row0 * s_.n + col0, s_.n);
}

void floatGemm(const FloatKernelTable& isa, const FloatGemmSpec& spec, float* c, int threads) {
  FloatGemmPlan plan(isa, spec, c);
  parallelRun(plan.packTasks(), threads, [&](size_t t) { plan.pack(t); });
  parallelRun(plan.tasks(), threads, [&](size_t t) { plan.run(t); });
}

}  // namespace anyprec

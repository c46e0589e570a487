// anyprec kernels: the whole public surface in one include (for the native tests and benchmarks;
// the binding includes each family's header where it uses it). Pure C++17, no Node-API.
//   platform/  the CPU-feature read and one Platform record per ISA (every family's table)
//   common/    types, the GEMM spec, alignment, overflow-checked sizes, the thread pool
//   bitplane/  layout, packing, bit-serial micro-kernels per ISA
//   bitgemm/   the bit-serial GEMM driver
//   i8gemm/    the int8 dot-product path (variants per ISA)
//   gemm/      the one GEMM entry: routes bit-serial vs int8
//   gated/     the precision-gated GEMM
//   fgemm/     the float32 GEMM
//   fconv/     the float32 convolution (implicit GEMM on fgemm, fused epilogue)
//   eltwise/   epilogues, quantiser, codes to float, channel affine
//   conv/      convolution lowering and pooling
#pragma once
#include "bitgemm/bitgemm.h"
#include "bitplane/bitplane.h"
#include "bitplane/pack.h"
#include "common/checked.h"
#include "common/gemm_spec.h"
#include "common/threadpool.h"
#include "common/types.h"
#include "conv/conv.h"
#include "eltwise/eltwise.h"
#include "eltwise/epilogue.h"
#include "fconv/fconv.h"
#include "fgemm/fgemm.h"
#include "gated/gated.h"
#include "gemm/gemm.h"
#include "i8gemm/i8gemm.h"
#include "platform/cpu.h"
#include "platform/platform.h"
#include "selftest/selftest.h"

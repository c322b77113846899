// The scalar kernel shapes of kernel.h (KernelShape, KernelShapeDerivative) as inline functions
// that both the host compiler and nvcc compile, so the CPU backend and the CUDA kernels evaluate
// the very same formulas:
//
//   double f = linalg::shape::Value(linalg::KernelType::kMatern52, r2);       // f(0) = 1
//   double df = linalg::shape::Derivative(linalg::KernelType::kMatern52, r2); // d f / d r2
//
// The formulas (Rasmussen & Williams 2006, eqs. 4.9 and 4.17), of r2 = the squared distance
// scaled by the length scales:
//   Matérn 5/2  (1 + sqrt(5 r2) + 5/3 r2) exp(-sqrt(5 r2))
//   Matérn 3/2  (1 + sqrt(3 r2)) exp(-sqrt(3 r2))
//   RBF         exp(-r2 / 2)
// With r = sqrt(c r2), d/dr2 = (d/dr) c / (2 r), which cancels the r of the Matérn derivatives:
// every derivative below is finite at r2 = 0 (and <= 0).
//
// Plain C++ with no dependency beyond <math.h>: it includes no CUDA header, and under nvcc the
// functions are marked __host__ __device__. Thread-safe (pure functions).
#ifndef HPT_SUGGEST_LINALG_KERNEL_SHAPE_H_
#define HPT_SUGGEST_LINALG_KERNEL_SHAPE_H_

#include <math.h>

#if defined(__CUDACC__)
#define HPT_KERNEL_SHAPE_FN __host__ __device__ inline
#else
#define HPT_KERNEL_SHAPE_FN inline
#endif

namespace hpt::suggest::linalg {

enum class KernelType { kMatern52, kMatern32, kRbf };

namespace shape {

// f(r2) for r2 >= 0; 0 for a type outside the enum.
HPT_KERNEL_SHAPE_FN double Value(KernelType t, double r2) {
  switch (t) {
    case KernelType::kMatern52: {
      const double r = sqrt(5 * r2);
      return (1 + r + r * r / 3) * exp(-r);
    }
    case KernelType::kMatern32: {
      const double r = sqrt(3 * r2);
      return (1 + r) * exp(-r);
    }
    case KernelType::kRbf:
      return exp(-r2 / 2);
  }
  return 0;
}

// d f / d r2 for r2 >= 0; 0 for a type outside the enum.
HPT_KERNEL_SHAPE_FN double Derivative(KernelType t, double r2) {
  switch (t) {
    case KernelType::kMatern52: {
      const double r = sqrt(5 * r2);
      return -5.0 / 6.0 * (1 + r) * exp(-r);
    }
    case KernelType::kMatern32: {
      const double r = sqrt(3 * r2);
      return -1.5 * exp(-r);
    }
    case KernelType::kRbf:
      return -0.5 * exp(-r2 / 2);
  }
  return 0;
}

}  // namespace shape
}  // namespace hpt::suggest::linalg

#undef HPT_KERNEL_SHAPE_FN

#endif  // HPT_SUGGEST_LINALG_KERNEL_SHAPE_H_

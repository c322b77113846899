// The one mapping from absl::Status to grpc::Status (codes map one to one).
#ifndef HPT_ENGINE_GRPC_STATUS_H_
#define HPT_ENGINE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hpt::engine {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace hpt::engine

#endif  // HPT_ENGINE_GRPC_STATUS_H_

// Per-trial tokens: random secrets given to a trial's process (HPT_TRIAL_TOKEN); only their
// SHA-256 is stored, so a copy of the database does not let anyone report as a trial.
// Thread-safe free functions.
#ifndef HPT_ENGINE_TOKEN_H_
#define HPT_ENGINE_TOKEN_H_

#include <string>

namespace hpt::engine {

// 32 random bytes from the OS CSPRNG, hex-encoded (64 characters).
std::string NewTrialToken();
// Lower-case hex SHA-256 of `token`.
std::string HashToken(const std::string& token);
// True when HashToken(token) equals `hash`, compared in constant time.
bool TokenMatches(const std::string& token, const std::string& hash);

}  // namespace hpt::engine

#endif  // HPT_ENGINE_TOKEN_H_

// hpt suggest: the ask/tell protocol (cli/ask_tell.h) over JSON lines on stdin/stdout.
#include <csignal>
#include <iostream>
#include <string>
#include <utility>

#include "cli/ask_tell.h"
#include "cli/commands.h"
#include "suggest/search_space.h"

namespace hpt::cli {

int Suggest(const SuggestOptions& o) {
  if (o.algorithm.empty()) {
    std::cerr << "hpt suggest: --algorithm must name an algorithm (e.g. random, sobol, grid)\n";
    return 2;
  }
  suggest::AlgorithmSpec algorithm{.name = o.algorithm, .settings = {}};
  for (const std::string& setting : o.settings) {
    const size_t eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "hpt suggest: --setting \"" << setting
                << "\" must be KEY=VALUE with a non-empty KEY (e.g. --setting random_state=7)\n";
      return 2;
    }
    algorithm.settings.emplace_back(setting.substr(0, eq), setting.substr(eq + 1));
  }

  // A client that goes away mid-reply makes the write fail (reported below) instead of killing
  // the process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::ios::sync_with_stdio(false);
  AskTellSession session(std::move(algorithm));
  std::string line;
  while (std::getline(std::cin, line)) {
    const std::string reply = session.Handle(line);
    if (reply.empty()) continue;  // a blank line
    std::cout << reply << '\n' << std::flush;
    if (!std::cout) {
      std::cerr << "hpt suggest: cannot write the reply to stdout (the client closed it?)\n";
      return 1;
    }
    if (session.closed()) return 0;
  }
  return 0;
}

}  // namespace hpt::cli

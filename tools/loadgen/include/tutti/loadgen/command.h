#pragma once
// `tutti bench`: the load generator's command line (tools/loadgen/README.md).
#include <string>
#include <vector>

namespace tutti::loadgen {

// Runs `tutti bench ARGS...`; prints progress on stderr and one JSON object
// as the last stdout line. Returns the process exit code.
int runBenchCommand(const std::vector<std::string>& args);

}  // namespace tutti::loadgen

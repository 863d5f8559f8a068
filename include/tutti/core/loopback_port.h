#pragma once
// A loopback port nobody listens on now, for a listener configured a moment
// later (the camera's ingest, a test's server restarted on its port).
#include <cstdint>

namespace tutti {

// type: SOCK_STREAM or SOCK_DGRAM. 0 when none could be had.
uint16_t freeLoopbackPort(int type);

}  // namespace tutti

// Fuzzes the server's decoder of client frames (docs/protocol.md): any bytes
// must decode to commands or errors, never crash, and every decoded command
// must re-encode its reply envelope without tripping the sanitizers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tutti/protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  auto items = tutti::protocol::decodeFrame(frame, 100);
  for (auto& d : items) {
    if (!d.command) {
      (void)tutti::protocol::encodeError(d.id, d.command.error());
      continue;
    }
    if (auto* p = std::get_if<tutti::protocol::PublishParams>(&d.command->params))
      (void)tutti::protocol::encodePub(p->room, "e", 1, 1, p->data_json);
  }
  (void)tutti::protocol::validRoomName(frame);
  return 0;
}

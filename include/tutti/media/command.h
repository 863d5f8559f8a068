#pragma once
// `tutti ladder FILE`: runs the media pipeline (decode, scale, x264 ladder,
// AAC, CMAF parts) over a media file as fast as it goes and prints one JSON
// line: media seconds, CPU seconds, parts and bytes per rendition. For
// bench/media/run, which makes the same ladder with the ffmpeg CLI beside it.

#include <string>
#include <vector>

namespace tutti::media {

int runLadderCommand(const std::vector<std::string>& args);

}  // namespace tutti::media

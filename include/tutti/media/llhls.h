#pragma once
// Low-Latency HLS playlists for the media origin (draft-pantos-hls-rfc8216bis,
// the HLS spec's second edition, and the low-latency section of Apple's HLS
// Authoring Specification). Pure logic: the packager tells a MediaPlaylist
// about parts and segments as they complete; the HTTP layer asks what to
// answer a playlist or media request with, and when. No I/O, no threads, no
// clock of its own: every time comes in as an argument.
//
// Units. Media durations are microseconds inside and seconds (double) at the
// packager's boundary; wall-clock instants are UTC microseconds since the Unix
// epoch (`_utc_us`); request arrival and "now" are microseconds on whatever
// monotonic clock the HTTP layer uses (`_us`). Playlists print every duration
// with 3 decimals, so each rule that compares printed values (a part against
// PART-TARGET, a program date time against the previous one) is checked at
// millisecond precision.
//
// Thread: every object here is owned by one worker (the rendition's home
// worker); nothing locks, and const member functions have no side effects.

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tutti/core/result.h"

namespace tutti::media::hls {

// Error codes of this module. Proposed for tutti/protocol/codes.h (a media
// block); they never reach the wire, the packager and the HTTP layer read them.
namespace code {
inline constexpr int kBadConfig = 1501;        // MediaPlaylistConfig or URI template refused
inline constexpr int kOutOfOrder = 1502;       // msn not the next one, or no segment to follow
inline constexpr int kBadDuration = 1503;      // not finite, below 1 ms, above an hour, gap above the target
inline constexpr int kPartTooLong = 1504;      // part above PART-TARGET (at printed precision)
inline constexpr int kNotIndependent = 1505;   // a segment's first part without INDEPENDENT
inline constexpr int kBadTimestamp = 1506;     // capture time not after the previous segment's, or out of range
inline constexpr int kBadDateRange = 1507;     // bad ID/CLASS/X- attribute, end before start, DURATION != END-DATE
inline constexpr int kDuplicateDateRange = 1508;  // ID already used (the spec forbids reuse)
inline constexpr int kEnded = 1509;            // a change after end()
inline constexpr int kBadQuery = 1510;         // malformed or repeated _HLS_msn / _HLS_part
inline constexpr int kBadMultivariant = 1511;  // variant or rendition refused
}  // namespace code

// A URI with {msn}, {part} and {dsn} placeholders (decimal numbers), e.g.
// "part-{msn}.{part}.m4s". The same template expands URIs for the playlist and
// the packager and matches the URIs that viewers request, so the two are exact
// inverses: match(expand(x)) == x, and a match accepts only canonical numbers.
class UriTemplate {
 public:
  enum class Field : uint8_t { kMsn, kPart, kDsn };
  struct Values {
    uint64_t msn = 0;
    uint64_t part = 0;
    uint64_t dsn = 0;
  };

  // Refuses: an unknown or repeated placeholder, a stray brace, two
  // placeholders with nothing between them, a digit right after a placeholder
  // (matching would be ambiguous), a character that cannot sit in a quoted
  // playlist attribute (controls, space, '"'), or an empty text.
  static Result<UriTemplate> parse(std::string_view text);

  bool has(Field f) const;
  std::string expand(const Values& v) const;
  std::optional<Values> match(std::string_view uri) const;

 private:
  std::vector<std::string> literals_;  // one more than fields_: text around the placeholders
  std::vector<Field> fields_;
};

// One rendition's playlist settings. Every rendition of a stream should use
// the same values (the spec wants the same target duration and
// EXT-X-SERVER-CONTROL in every media playlist of a multivariant playlist).
struct MediaPlaylistConfig {
  // The nominal segment length and the floor of EXT-X-TARGETDURATION, in
  // whole seconds (the tag's unit). The packager should cut a segment at the
  // first key frame at or after it. 2 s keeps switch points close together.
  int target_duration_s = 2;
  // PART-TARGET, the longest part the playlist accepts (at 1 ms precision).
  // 0.5 s: four parts per segment and a PART-HOLD-BACK of 1.5 s, near the
  // 2-3 s glass-to-glass that deployed LL-HLS origins report.
  double part_target_s = 0.5;
  // Complete segments kept, plus the one being built. Trimming never leaves
  // less than 3 target durations (spec 6.2.2). 12 x 2 s = 24 s: a delta update
  // (CAN-SKIP-UNTIL 12 s) then skips about half the playlist, and a part stays
  // known for 3 target durations after its tag leaves the playlist.
  size_t window_segments = 12;
  // PART-HOLD-BACK. 0 = 3 x PART-TARGET, the spec's minimum; a lower value is raised to it.
  double part_hold_back_s = 0;
  // HOLD-BACK. 0 = not rendered (LL-HLS clients use PART-HOLD-BACK); any
  // other value is raised to the spec's minimum of 3 x target duration.
  double hold_back_s = 0;
  // Playlist delta updates (_HLS_skip). CAN-SKIP-UNTIL: 0 = 6 x target
  // duration, the spec's minimum; a lower value is raised to it.
  bool delta_updates = true;
  double can_skip_until_s = 0;
  // URIs relative to the playlist, the same for every viewer so that caches
  // share them. init_uri may contain {dsn}: one init segment per
  // discontinuity sequence (a new encoder), and an EXT-X-MAP after each
  // EXT-X-DISCONTINUITY. segment_uri needs {msn}; part_uri {msn} and {part}.
  std::string init_uri = "init.mp4";
  std::string segment_uri = "seg-{msn}.m4s";
  std::string part_uri = "part-{msn}.{part}.m4s";
};

// An EXT-X-DATERANGE (a chapter, an ad break, a cue shown to every viewer).
// Open ranges (neither duration nor end) are treated as an instant when
// deciding whether they have left the window.
struct DateRange {
  std::string id;          // ID: never reused in one playlist
  std::string class_name;  // CLASS; empty = none
  int64_t start_utc_us = 0;                // START-DATE
  std::optional<int64_t> duration_us;      // DURATION, >= 0
  std::optional<int64_t> end_utc_us;       // END-DATE, >= start; with DURATION they must agree (to 1 ms)
  // Client attributes: names "X-" + [A-Z0-9-]+, unique; values rendered as quoted strings.
  std::vector<std::pair<std::string, std::string>> client_attributes;
};

enum class SkipRequest : uint8_t { kNone, kYes, kV2 };  // _HLS_skip absent / YES / v2

// A playlist request's delivery directives.
struct PlaylistQuery {
  std::optional<uint64_t> msn;   // _HLS_msn
  std::optional<uint64_t> part;  // _HLS_part
  SkipRequest skip = SkipRequest::kNone;
};

// Parses the query part of a playlist URI ("a=1&b=2", a leading '?' allowed).
// _HLS_msn and _HLS_part must be plain decimal integers that fit 64 bits and
// appear at most once (else code::kBadQuery: answer 400). _HLS_skip other than
// YES or v2 is ignored (a full playlist answers any request), and so is every
// other parameter. Semantic checks (_HLS_part without _HLS_msn) are decide()'s.
Result<PlaylistQuery> parsePlaylistQuery(std::string_view query);

// EXT-X-RENDITION-REPORT for another rendition of the same stream.
struct RenditionReport {
  std::string uri;  // that rendition's media playlist, relative to this one
  uint64_t last_msn = 0;
  std::optional<uint64_t> last_part;  // none when its last segment has no parts (a gap)
};

enum class Verdict : uint8_t {
  kReady,               // answer now with render()
  kWait,                // hold the request; re-ask after each change, or at the deadline
  kBadRequest,          // 400
  kServiceUnavailable,  // 503: blocked for 3 target durations without the playlist getting there
};
int httpStatus(Verdict v);  // 200, 0 (no answer yet), 400, 503

struct BlockingDecision {
  Verdict verdict = Verdict::kReady;
  int64_t deadline_us = 0;  // arrived_at_us + 3 target durations; from then on a waiter gets 503
  std::string reason;       // for logs when not ready
};

// What a media request (a part, a segment or the init segment) gets.
enum class ResourceState : uint8_t {
  kAvailable,  // serve it
  kHold,       // the next part (the preload hint, or the other candidate at a
               // segment boundary) or the segment being built: hold the request
               // and re-classify after each addPart / addGap / end
  kNotFound,   // unknown, gone from the window, a gap, or never to exist: 404
};

// One rendition's sliding window of LL-HLS segments and parts.
//
// The packager calls, in order: addPart for each part as it completes (the
// first part of a new msn starts a new segment and completes the previous
// one), addGap for a missing segment, markDiscontinuity before the next
// segment of a new encoder, addDateRange at any time, and end() once. Msn are
// consecutive; any call out of order is refused with an error and changes
// nothing. Thread: the rendition's home worker.
class MediaPlaylist {
 public:
  // Refuses (code::kBadConfig) a target below 1 s, a part target outside
  // [1 ms, target], an empty window, a negative or non-finite hold-back or
  // skip value, and bad URI templates.
  static Result<MediaPlaylist> create(MediaPlaylistConfig config);

  // A part of `msn` lasting duration_s; first_capture_utc_us is the wall-clock
  // capture time of its first sample and becomes the segment's
  // EXT-X-PROGRAM-DATE-TIME when the part starts a segment. Refused:
  // code::kEnded after end(); kBadDuration; kPartTooLong when the duration
  // printed with 3 decimals exceeds PART-TARGET (PART-TARGET comes from the
  // config and never changes: the packager must cut parts to fit); and for a
  // part that starts a segment: kOutOfOrder unless msn is the one after the
  // last segment (any msn for the very first part), kNotIndependent unless
  // independent (a segment must start at a key frame), kBadTimestamp unless
  // the capture time is later, at 1 ms, than the previous segment's date.
  Result<void> addPart(uint64_t msn, double duration_s, bool independent, int64_t first_capture_utc_us);
  // A segment of absent media (rendered with EXT-X-GAP, no parts) so that msn
  // stay consecutive. Its date follows the previous segment's end; so it
  // needs a previous segment (else kOutOfOrder), and must not round above the
  // configured target duration (kBadDuration: add several gaps instead).
  Result<void> addGap(uint64_t msn, double duration_s);
  // The next segment (started by addPart or addGap) gets EXT-X-DISCONTINUITY.
  // Before the very first segment there is nothing to be discontinuous with
  // and the mark is dropped. kEnded after end().
  Result<void> markDiscontinuity();
  // kBadDateRange, kDuplicateDateRange or kEnded. A range leaves the playlist
  // once it ends before the first segment's date; it is then listed in
  // RECENTLY-REMOVED-DATERANGES (v2 delta updates) for CAN-SKIP-UNTIL seconds.
  Result<void> addDateRange(DateRange range);
  // Completes the segment being built and adds EXT-X-ENDLIST. Idempotent.
  void end();

  // ---- state
  const MediaPlaylistConfig& config() const { return config_; }
  // Nothing added yet: the HTTP layer should answer 404 to the playlist.
  bool empty() const { return segments_.empty() && !open_; }
  bool ended() const { return ended_; }
  // Grows by one with every accepted change: a key for caching rendered bytes.
  uint64_t revision() const { return revision_; }
  // EXT-X-MEDIA-SEQUENCE: the oldest segment in the window (0 when empty).
  uint64_t firstMsn() const;
  // The newest segment, complete or being built (0 when empty).
  uint64_t lastMsn() const;
  // The newest part's index, when the newest segment has parts.
  std::optional<uint64_t> lastPart() const;
  // This rendition as the other renditions' playlists report it.
  RenditionReport report(std::string uri) const { return {std::move(uri), lastMsn(), lastPart()}; }
  // EXT-X-TARGETDURATION: the largest segment duration so far rounded to the
  // nearest second (the spec's rule for EXTINF against the target), never
  // below the configured one; it never decreases.
  int targetDurationS() const;
  int64_t partTargetUs() const { return part_target_us_; }
  int64_t partHoldBackUs() const;
  std::optional<int64_t> holdBackUs() const;
  int64_t canSkipUntilUs() const;
  // 3 x target duration: how long a playlist request may block.
  int64_t blockingTimeoutUs() const { return 3 * targetDurationS() * int64_t{1'000'000}; }

  // The part the EXT-X-PRELOAD-HINT names: the next part of the segment being
  // built, or part 0 of the next segment once the segment being built has
  // reached the nominal length (within half a part target) or after a gap.
  // None when empty or ended.
  struct PartRef {
    uint64_t msn = 0;
    uint64_t part = 0;
    bool operator==(const PartRef&) const = default;
  };
  std::optional<PartRef> nextPart() const;

  std::string partUri(uint64_t msn, uint64_t part) const { return part_.expand({msn, part, 0}); }
  std::string segmentUri(uint64_t msn) const { return segment_.expand({msn, 0, 0}); }
  std::string initUri(uint64_t dsn) const { return init_.expand({0, 0, dsn}); }

  // ---- rendering
  // The media playlist. skip != kNone gives a delta update while live and
  // delta updates are on (else the full playlist): the complete segments that
  // end more than CAN-SKIP-UNTIL before the end of the last complete segment
  // are replaced by EXT-X-SKIP (nothing skippable: the full playlist); with
  // kV2 the date ranges added while a skipped segment was being built are left
  // out and the recently removed ones listed. `reports` are the other
  // renditions (ones whose URI cannot be quoted are left out). EXT-X-VERSION
  // is the least the content needs (spec section 8): 6 for EXT-X-MAP, 9 with
  // EXT-X-SKIP, 10 when the skip also stands for date ranges.
  std::string render(SkipRequest skip = SkipRequest::kNone, std::span<const RenditionReport> reports = {}) const;

  // ---- blocking playlist reload
  // What a playlist request that arrived at arrived_at_us gets at now_us: call
  // on arrival (now == arrived) and again after each change and at the
  // deadline. Rules (spec 6.2.5.2): after ENDLIST every directive is ignored
  // (ready); _HLS_part without _HLS_msn is 400; no _HLS_msn is ready; msn
  // above lastMsn() + 2 is 400, and so is a part further past the newest part
  // than the Advance Part Limit (3 / PART-TARGET parts below 1 s, else 3),
  // counting the parts still expected in the segments between at
  // target/PART-TARGET parts each; ready once satisfies(); 503 from the
  // deadline on; otherwise wait. An empty playlist makes every blocking
  // request wait.
  BlockingDecision decide(const PlaylistQuery& q, int64_t arrived_at_us, int64_t now_us) const;
  // True when the playlist answers q: ended, no _HLS_msn, msn older than the
  // window, a complete segment with msn >= M (no _HLS_part), or the part
  // (M, N) or anything later listed. N past the last part of a complete
  // segment M means part 0 of M+1 (spec 6.2.5.2). The HTTP layer calls it for
  // its waiters after each change.
  bool satisfies(const PlaylistQuery& q) const;

  // ---- media requests (spec 6.2.6)
  // A part or segment URI of this rendition, or its init segment, as the
  // templates write it: relative to the playlist, without a query. Untrusted
  // input: anything that does not match a template is kNotFound.
  ResourceState classifyUri(std::string_view uri) const;

 private:
  struct Part {
    int64_t duration_us = 0;
    bool independent = false;
  };
  struct Segment {
    uint64_t msn = 0;
    // Discontinuity sequence number: EXT-X-DISCONTINUITY tags up to and including this segment's.
    uint64_t dsn = 0;
    int64_t start_us = 0;  // media time: the sum of all earlier segments' durations
    int64_t duration_us = 0;
    int64_t pdt_utc_us = 0;
    bool discontinuity = false;
    bool gap = false;
    std::vector<Part> parts;
  };
  struct StoredDateRange {
    std::string id;
    int64_t last_utc_us = 0;  // end, or start for an open range
    uint64_t added_msn = 0;   // the segment being built (or next) when it was added
    std::string tag;          // the rendered line, without the newline
  };
  struct RemovedDateRange {
    std::string id;
    int64_t removed_at_us = 0;  // media time (playlist end) when it left
  };

  MediaPlaylist(MediaPlaylistConfig config, UriTemplate init, UriTemplate segment, UriTemplate part);

  const Segment* newest() const;
  int64_t endUs() const;  // media time at the end of the newest part or segment
  Result<int64_t> checkNewSegment(uint64_t msn) const;  // the start time it would get
  Segment startSegment(uint64_t msn);
  void completeOpen();
  void pushComplete(Segment s);
  void trim();
  size_t skippableSegments() const;
  void renderSegment(std::string& out, const Segment& s, bool list_parts, bool complete) const;

  MediaPlaylistConfig config_;
  UriTemplate init_;
  UriTemplate segment_;
  UriTemplate part_;
  int64_t part_target_us_ = 0;  // whole milliseconds
  int max_segment_s_ = 0;       // largest complete segment so far, rounded to the nearest second
  std::deque<Segment> segments_;  // complete, oldest first
  std::optional<Segment> open_;   // being built; always has at least one part
  int64_t window_us_ = 0;         // sum of segments_' durations
  uint64_t dsn_ = 0;              // of the newest segment
  bool discontinuity_pending_ = false;
  bool ended_ = false;
  uint64_t revision_ = 0;
  std::vector<StoredDateRange> date_ranges_;  // in the order added
  std::deque<RemovedDateRange> removed_;      // oldest first
};

// ---- multivariant playlist

// An audio rendition in its own media playlist (EXT-X-MEDIA:TYPE=AUDIO).
struct AudioRendition {
  std::string group_id;
  std::string name;
  std::string language;  // BCP 47; empty = not rendered
  std::string channels;  // e.g. "2"; empty = not rendered
  std::string uri;
  bool is_default = true;
  bool autoselect = true;
};

struct Variant {
  std::string uri;
  uint64_t bandwidth_bps = 0;          // BANDWIDTH: peak, audio included; > 0
  uint64_t average_bandwidth_bps = 0;  // AVERAGE-BANDWIDTH; 0 = not rendered; <= bandwidth
  // CODECS (RFC 6381), every format in the variant: with a separate audio
  // rendition, its codec too (spec 6.2.4).
  std::string codecs;
  int width = 0;  // RESOLUTION when both are > 0; audio-only variants leave them 0
  int height = 0;
  double frame_rate = 0;    // FRAME-RATE (3 decimals) when > 0
  std::string audio_group;  // AUDIO: a group of `audio`; empty = audio muxed in (or none)
};

struct MultivariantPlaylist {
  std::vector<AudioRendition> audio;
  std::vector<Variant> variants;
};

// kBadMultivariant when: no variant, an empty or unquotable URI, name or
// codecs, zero bandwidth, an average above the peak, half a resolution, a
// frame rate that is negative or not finite, an AUDIO group with no
// rendition, or a group with more than one default rendition.
Result<std::string> renderMultivariant(const MultivariantPlaylist& playlist);

// "2024-05-06T07:08:09.123Z": UTC, milliseconds (floored), as EXT-X-PROGRAM-DATE-TIME and date ranges print it.
std::string formatUtc(int64_t utc_us);

}  // namespace tutti::media::hls

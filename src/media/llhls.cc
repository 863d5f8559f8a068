#include "tutti/media/llhls.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

namespace tutti::media::hls {

namespace {

constexpr int64_t kUsPerMs = 1000;
constexpr int64_t kUsPerS = 1'000'000;
// A longer part, segment or date range is a caller's bug; the bound also keeps
// every sum of durations far from overflow.
constexpr int64_t kMaxDurationUs = 3600 * kUsPerS;
// 9999-12-31T23:59:59.999999Z: ISO 8601 dates need four-digit years.
constexpr int64_t kMaxUtcUs = 253'402'300'799'999'999;

// Rounds a non-negative duration to whole milliseconds, the printed precision.
int64_t toMs(int64_t us) { return (us + kUsPerMs / 2) / kUsPerMs; }

int64_t floorMs(int64_t us) { return us >= 0 ? us / kUsPerMs : -((-us + kUsPerMs - 1) / kUsPerMs); }

// Rounds to the nearest whole second, as the spec rounds EXTINF against the target.
int nearestSeconds(int64_t us) { return static_cast<int>((us + kUsPerS / 2) / kUsPerS); }

// "1.234" from milliseconds: every decimal in our playlists.
void appendMs(std::string& out, int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000));
  out += buf;
}

void appendDuration(std::string& out, int64_t us) { appendMs(out, toMs(us)); }

// A duration in seconds from the packager, as whole microseconds.
Result<int64_t> durationUs(double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0 || seconds * kUsPerS > static_cast<double>(kMaxDurationUs)) {
    return makeError(code::kBadDuration, "duration must be finite, > 0 and at most an hour");
  }
  const int64_t us = std::llround(seconds * kUsPerS);
  // Below 1 ms a duration prints as 0.000, and a gap after it could share the
  // previous segment's date.
  if (us < kUsPerMs) return makeError(code::kBadDuration, "duration below 1 ms");
  return us;
}

// Whether text can sit inside a quoted-string attribute: no '"', no CR/LF or
// other control characters (spec 4.2).
bool quotable(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '"' || u < 0x20 || u == 0x7f;
  });
}

// A URI in a quoted attribute or on its own line: quotable, non-empty, no spaces.
bool uriOk(std::string_view s) {
  return !s.empty() && quotable(s) && s.find(' ') == std::string_view::npos;
}

// Client attribute names: "X-" then [A-Z0-9-] (spec 4.2 attribute names).
bool clientAttributeName(std::string_view s) {
  if (s.size() < 3 || s.substr(0, 2) != "X-") return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool utcInRange(int64_t utc_us) { return utc_us >= 0 && utc_us <= kMaxUtcUs; }

void appendQuoted(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += "=\"";
  out += value;
  out += '"';
}

// Plain decimal, canonical for URIs (no leading zeros) when `canonical`.
std::optional<uint64_t> parseDecimal(std::string_view s, bool canonical) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (canonical && s.size() > 1 && s[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

std::string formatUtc(int64_t utc_us) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds{floorMs(utc_us)}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  return buf;
}

int httpStatus(Verdict v) {
  switch (v) {
    case Verdict::kReady: return 200;
    case Verdict::kWait: return 0;
    case Verdict::kBadRequest: return 400;
    case Verdict::kServiceUnavailable: return 503;
  }
  return 500;
}

// ---------------------------------------------------------------- UriTemplate

Result<UriTemplate> UriTemplate::parse(std::string_view text) {
  if (!uriOk(text)) return makeError(code::kBadConfig, "URI template empty or with a character a playlist cannot quote");
  UriTemplate t;
  std::string literal;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '}') return makeError(code::kBadConfig, "stray '}' in URI template");
    if (c != '{') {
      literal += c;
      ++i;
      continue;
    }
    const size_t close = text.find('}', i);
    if (close == std::string_view::npos) return makeError(code::kBadConfig, "unclosed '{' in URI template");
    const std::string_view name = text.substr(i + 1, close - i - 1);
    Field f;
    if (name == "msn") f = Field::kMsn;
    else if (name == "part") f = Field::kPart;
    else if (name == "dsn") f = Field::kDsn;
    else return makeError(code::kBadConfig, "unknown placeholder {" + std::string(name) + "}");
    if (t.has(f)) return makeError(code::kBadConfig, "placeholder {" + std::string(name) + "} twice");
    if (!t.fields_.empty() && literal.empty()) {
      return makeError(code::kBadConfig, "two placeholders with nothing between them");
    }
    t.literals_.push_back(std::move(literal));
    literal.clear();
    t.fields_.push_back(f);
    i = close + 1;
    if (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      return makeError(code::kBadConfig, "a digit right after a placeholder makes the URI ambiguous");
    }
  }
  t.literals_.push_back(std::move(literal));
  return t;
}

bool UriTemplate::has(Field f) const { return std::find(fields_.begin(), fields_.end(), f) != fields_.end(); }

std::string UriTemplate::expand(const Values& v) const {
  std::string out = literals_.empty() ? std::string() : literals_[0];
  for (size_t i = 0; i < fields_.size(); ++i) {
    switch (fields_[i]) {
      case Field::kMsn: out += std::to_string(v.msn); break;
      case Field::kPart: out += std::to_string(v.part); break;
      case Field::kDsn: out += std::to_string(v.dsn); break;
    }
    out += literals_[i + 1];
  }
  return out;
}

std::optional<UriTemplate::Values> UriTemplate::match(std::string_view uri) const {
  if (literals_.empty()) return std::nullopt;
  Values v;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (!uri.starts_with(literals_[i])) return std::nullopt;
    uri.remove_prefix(literals_[i].size());
    size_t digits = 0;
    while (digits < uri.size() && uri[digits] >= '0' && uri[digits] <= '9') ++digits;
    const auto n = parseDecimal(uri.substr(0, digits), /*canonical=*/true);
    if (!n) return std::nullopt;
    uri.remove_prefix(digits);
    switch (fields_[i]) {
      case Field::kMsn: v.msn = *n; break;
      case Field::kPart: v.part = *n; break;
      case Field::kDsn: v.dsn = *n; break;
    }
  }
  if (uri != literals_.back()) return std::nullopt;
  return v;
}

// ---------------------------------------------------------------- queries

Result<PlaylistQuery> parsePlaylistQuery(std::string_view query) {
  if (query.starts_with('?')) query.remove_prefix(1);
  PlaylistQuery q;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (name == "_HLS_msn" || name == "_HLS_part") {
      std::optional<uint64_t>& slot = name == "_HLS_msn" ? q.msn : q.part;
      if (slot) return makeError(code::kBadQuery, std::string(name) + " given twice");
      slot = parseDecimal(value, /*canonical=*/false);
      if (!slot) return makeError(code::kBadQuery, std::string(name) + " is not a decimal integer");
    } else if (name == "_HLS_skip") {
      if (value == "YES") q.skip = SkipRequest::kYes;
      else if (value == "v2") q.skip = SkipRequest::kV2;
    }
  }
  return q;
}

// ---------------------------------------------------------------- MediaPlaylist

Result<MediaPlaylist> MediaPlaylist::create(MediaPlaylistConfig config) {
  if (config.target_duration_s < 1 || config.target_duration_s > 3600) {
    return makeError(code::kBadConfig, "target_duration_s must be in [1, 3600]");
  }
  if (!std::isfinite(config.part_target_s) || std::llround(config.part_target_s * 1000) < 1 ||
      config.part_target_s > config.target_duration_s) {
    return makeError(code::kBadConfig, "part_target_s must be in [0.001, target_duration_s]");
  }
  if (config.window_segments < 1) return makeError(code::kBadConfig, "window_segments must be >= 1");
  for (double v : {config.part_hold_back_s, config.hold_back_s, config.can_skip_until_s}) {
    if (!std::isfinite(v) || v < 0 || v > 3600) {
      return makeError(code::kBadConfig, "hold-back and skip values must be in [0, 3600] s");
    }
  }
  auto init = UriTemplate::parse(config.init_uri);
  if (!init) return init.error();
  auto segment = UriTemplate::parse(config.segment_uri);
  if (!segment) return segment.error();
  auto part = UriTemplate::parse(config.part_uri);
  if (!part) return part.error();
  using F = UriTemplate::Field;
  if (init->has(F::kMsn) || init->has(F::kPart)) return makeError(code::kBadConfig, "init_uri may hold only {dsn}");
  if (!segment->has(F::kMsn) || segment->has(F::kPart)) {
    return makeError(code::kBadConfig, "segment_uri needs {msn} and no {part}");
  }
  if (!part->has(F::kMsn) || !part->has(F::kPart)) return makeError(code::kBadConfig, "part_uri needs {msn} and {part}");
  return MediaPlaylist(std::move(config), std::move(*init), std::move(*segment), std::move(*part));
}

MediaPlaylist::MediaPlaylist(MediaPlaylistConfig config, UriTemplate init, UriTemplate segment, UriTemplate part)
    : config_(std::move(config)), init_(std::move(init)), segment_(std::move(segment)), part_(std::move(part)) {
  part_target_us_ = std::llround(config_.part_target_s * 1000) * kUsPerMs;
}

const MediaPlaylist::Segment* MediaPlaylist::newest() const {
  if (open_) return &*open_;
  return segments_.empty() ? nullptr : &segments_.back();
}

int64_t MediaPlaylist::endUs() const {
  const Segment* s = newest();
  return s ? s->start_us + s->duration_us : 0;
}

uint64_t MediaPlaylist::firstMsn() const {
  if (!segments_.empty()) return segments_.front().msn;
  return open_ ? open_->msn : 0;
}

uint64_t MediaPlaylist::lastMsn() const {
  const Segment* s = newest();
  return s ? s->msn : 0;
}

std::optional<uint64_t> MediaPlaylist::lastPart() const {
  const Segment* s = newest();
  if (!s || s->parts.empty()) return std::nullopt;
  return s->parts.size() - 1;
}

int MediaPlaylist::targetDurationS() const { return std::max(config_.target_duration_s, max_segment_s_); }

int64_t MediaPlaylist::partHoldBackUs() const {
  return std::max<int64_t>(std::llround(config_.part_hold_back_s * 1000) * kUsPerMs, 3 * part_target_us_);
}

std::optional<int64_t> MediaPlaylist::holdBackUs() const {
  if (config_.hold_back_s <= 0) return std::nullopt;
  return std::max<int64_t>(std::llround(config_.hold_back_s * 1000) * kUsPerMs, 3 * targetDurationS() * kUsPerS);
}

int64_t MediaPlaylist::canSkipUntilUs() const {
  return std::max<int64_t>(std::llround(config_.can_skip_until_s * 1000) * kUsPerMs, 6 * targetDurationS() * kUsPerS);
}

// ---- changes

Result<int64_t> MediaPlaylist::checkNewSegment(uint64_t msn) const {
  const Segment* prev = newest();
  if (!prev) return int64_t{0};
  if (msn != prev->msn + 1) {
    return makeError(code::kOutOfOrder,
                     "msn " + std::to_string(msn) + " after " + std::to_string(prev->msn) + ": msn must be consecutive");
  }
  return prev->start_us + prev->duration_us;
}

MediaPlaylist::Segment MediaPlaylist::startSegment(uint64_t msn) {
  Segment s;
  s.msn = msn;
  s.start_us = endUs();
  if (discontinuity_pending_ && newest()) {
    s.discontinuity = true;
    ++dsn_;
  }
  discontinuity_pending_ = false;
  s.dsn = dsn_;
  return s;
}

Result<void> MediaPlaylist::addPart(uint64_t msn, double duration_s, bool independent,
                                    int64_t first_capture_utc_us) {
  if (ended_) return makeError(code::kEnded, "the playlist has ended");
  auto dur = durationUs(duration_s);
  if (!dur) return dur.error();
  if (toMs(*dur) > toMs(part_target_us_)) {
    return makeError(code::kPartTooLong, "part of " + std::to_string(toMs(*dur)) + " ms above PART-TARGET of " +
                                             std::to_string(toMs(part_target_us_)) + " ms");
  }
  if (open_ && msn == open_->msn) {
    open_->parts.push_back({*dur, independent});
    open_->duration_us += *dur;
    ++revision_;
    return {};
  }
  // The part starts a segment.
  if (auto start = checkNewSegment(msn); !start) return start.error();
  if (!independent) return makeError(code::kNotIndependent, "a segment must start with an independent part");
  if (!utcInRange(first_capture_utc_us)) return makeError(code::kBadTimestamp, "capture time out of range");
  if (const Segment* prev = newest(); prev && floorMs(first_capture_utc_us) <= floorMs(prev->pdt_utc_us)) {
    return makeError(code::kBadTimestamp, "capture time " + formatUtc(first_capture_utc_us) +
                                              " not after the previous segment's " + formatUtc(prev->pdt_utc_us));
  }
  if (open_) completeOpen();
  Segment s = startSegment(msn);
  s.pdt_utc_us = first_capture_utc_us;
  s.duration_us = *dur;
  s.parts.push_back({*dur, independent});
  open_ = std::move(s);
  ++revision_;
  return {};
}

Result<void> MediaPlaylist::addGap(uint64_t msn, double duration_s) {
  if (ended_) return makeError(code::kEnded, "the playlist has ended");
  auto dur = durationUs(duration_s);
  if (!dur) return dur.error();
  if (nearestSeconds(*dur) > config_.target_duration_s) {
    return makeError(code::kBadDuration, "a gap may not exceed the target duration: add several");
  }
  const Segment* prev = newest();
  if (!prev) return makeError(code::kOutOfOrder, "a gap needs an earlier segment to date it");
  if (auto start = checkNewSegment(msn); !start) return start.error();
  const int64_t pdt = prev->pdt_utc_us + prev->duration_us;
  if (!utcInRange(pdt)) return makeError(code::kBadTimestamp, "gap date out of range");
  if (open_) completeOpen();
  Segment s = startSegment(msn);
  s.pdt_utc_us = pdt;
  s.duration_us = *dur;
  s.gap = true;
  pushComplete(std::move(s));
  ++revision_;
  return {};
}

Result<void> MediaPlaylist::markDiscontinuity() {
  if (ended_) return makeError(code::kEnded, "the playlist has ended");
  if (!newest()) return {};  // nothing before it to be discontinuous with
  if (!discontinuity_pending_) {
    discontinuity_pending_ = true;
    ++revision_;
  }
  return {};
}

Result<void> MediaPlaylist::addDateRange(DateRange r) {
  if (ended_) return makeError(code::kEnded, "the playlist has ended");
  if (r.id.empty() || !quotable(r.id) || !quotable(r.class_name)) {
    return makeError(code::kBadDateRange, "ID empty, or ID/CLASS with a character a playlist cannot quote");
  }
  if (!utcInRange(r.start_utc_us)) return makeError(code::kBadDateRange, "START-DATE out of range");
  int64_t last = r.start_utc_us;
  if (r.duration_us) {
    if (*r.duration_us < 0 || *r.duration_us > kMaxDurationUs * 24) {
      return makeError(code::kBadDateRange, "DURATION must be in [0, 24 h]");
    }
    last = r.start_utc_us + *r.duration_us;
  }
  if (r.end_utc_us) {
    if (!utcInRange(*r.end_utc_us) || *r.end_utc_us < r.start_utc_us) {
      return makeError(code::kBadDateRange, "END-DATE before START-DATE or out of range");
    }
    if (r.duration_us && floorMs(*r.end_utc_us) != floorMs(last)) {
      return makeError(code::kBadDateRange, "END-DATE must equal START-DATE + DURATION");
    }
    last = *r.end_utc_us;
  }
  for (size_t i = 0; i < r.client_attributes.size(); ++i) {
    const auto& [name, value] = r.client_attributes[i];
    if (!clientAttributeName(name) || !quotable(value)) {
      return makeError(code::kBadDateRange, "client attribute '" + name + "': name X-[A-Z0-9-]+, value quotable");
    }
    for (size_t j = 0; j < i; ++j) {
      if (r.client_attributes[j].first == name) return makeError(code::kBadDateRange, "attribute " + name + " twice");
    }
  }
  const auto same_id = [&](const auto& d) { return d.id == r.id; };
  if (std::any_of(date_ranges_.begin(), date_ranges_.end(), same_id) ||
      std::any_of(removed_.begin(), removed_.end(), same_id)) {
    return makeError(code::kDuplicateDateRange, "date range ID '" + r.id + "' already used");
  }

  std::string tag = "#EXT-X-DATERANGE:";
  appendQuoted(tag, "ID", r.id);
  if (!r.class_name.empty()) appendQuoted(tag += ',', "CLASS", r.class_name);
  appendQuoted(tag += ',', "START-DATE", formatUtc(r.start_utc_us));
  if (r.end_utc_us) appendQuoted(tag += ',', "END-DATE", formatUtc(*r.end_utc_us));
  if (r.duration_us) {
    tag += ",DURATION=";
    appendDuration(tag, *r.duration_us);
  }
  for (const auto& [name, value] : r.client_attributes) appendQuoted(tag += ',', name, value);

  const Segment* s = newest();
  const uint64_t added_msn = open_ ? open_->msn : (s ? s->msn + 1 : 0);
  date_ranges_.push_back({std::move(r.id), last, added_msn, std::move(tag)});
  ++revision_;
  return {};
}

void MediaPlaylist::end() {
  if (ended_) return;
  if (open_) completeOpen();
  ended_ = true;
  discontinuity_pending_ = false;
  ++revision_;
}

void MediaPlaylist::completeOpen() {
  Segment s = std::move(*open_);
  open_.reset();
  pushComplete(std::move(s));
}

void MediaPlaylist::pushComplete(Segment s) {
  max_segment_s_ = std::max(max_segment_s_, nearestSeconds(s.duration_us));
  window_us_ += s.duration_us;
  segments_.push_back(std::move(s));
  trim();
}

void MediaPlaylist::trim() {
  // Spec 6.2.2: never shorter than 3 target durations while live.
  const int64_t floor_us = 3 * targetDurationS() * kUsPerS;
  while (segments_.size() > config_.window_segments && window_us_ - segments_.front().duration_us >= floor_us) {
    window_us_ -= segments_.front().duration_us;
    segments_.pop_front();
  }
  // A date range may go once no date in it maps to a segment still listed
  // (spec 6.2.1): it ends before the first segment's date.
  const int64_t first_pdt = segments_.empty() ? (open_ ? open_->pdt_utc_us : 0) : segments_.front().pdt_utc_us;
  const int64_t now = endUs();
  std::erase_if(date_ranges_, [&](const StoredDateRange& d) {
    if (d.last_utc_us >= first_pdt) return false;
    removed_.push_back({d.id, now});
    return true;
  });
  // Removed IDs matter to v2 delta updates for CAN-SKIP-UNTIL only.
  while (!removed_.empty() && now - removed_.front().removed_at_us > canSkipUntilUs()) removed_.pop_front();
}

// ---- state

std::optional<MediaPlaylist::PartRef> MediaPlaylist::nextPart() const {
  if (ended_) return std::nullopt;
  if (open_) {
    // Predict a segment boundary once the segment has its nominal length:
    // hinting part 0 of the next segment then saves clients a 404 and a retry
    // at every boundary. A wrong guess costs one 404 (spec 6.2.6 allows it).
    const int64_t nominal_us = int64_t{config_.target_duration_s} * kUsPerS;
    if (open_->duration_us >= nominal_us - part_target_us_ / 2) return PartRef{open_->msn + 1, 0};
    return PartRef{open_->msn, open_->parts.size()};
  }
  if (segments_.empty()) return std::nullopt;
  return PartRef{segments_.back().msn + 1, 0};
}

// ---- rendering

size_t MediaPlaylist::skippableSegments() const {
  if (segments_.empty()) return 0;
  // Spec 6.2.5.1: segments further than the Skip Boundary from the end of the
  // last segment. Measured from the last complete segment and on each
  // segment's end, so every skipped segment lies wholly beyond the boundary.
  const int64_t end = segments_.back().start_us + segments_.back().duration_us;
  const int64_t boundary = canSkipUntilUs();
  size_t n = 0;
  while (n < segments_.size() && end - (segments_[n].start_us + segments_[n].duration_us) > boundary) ++n;
  return n;
}

void MediaPlaylist::renderSegment(std::string& out, const Segment& s, bool list_parts, bool complete) const {
  if (s.discontinuity) {
    out += "#EXT-X-DISCONTINUITY\n";
    if (init_.has(UriTemplate::Field::kDsn)) {
      out += "#EXT-X-MAP:URI=\"" + initUri(s.dsn) + "\"\n";
    }
  }
  out += "#EXT-X-PROGRAM-DATE-TIME:" + formatUtc(s.pdt_utc_us) + "\n";
  if (list_parts) {
    for (size_t i = 0; i < s.parts.size(); ++i) {
      out += "#EXT-X-PART:DURATION=";
      appendDuration(out, s.parts[i].duration_us);
      out += ",URI=\"" + partUri(s.msn, i) + "\"";
      if (s.parts[i].independent) out += ",INDEPENDENT=YES";
      out += '\n';
    }
  }
  if (!complete) return;
  if (s.gap) out += "#EXT-X-GAP\n";
  out += "#EXTINF:";
  appendDuration(out, s.duration_us);
  out += ",\n" + segmentUri(s.msn) + "\n";
}

std::string MediaPlaylist::render(SkipRequest skip, std::span<const RenditionReport> reports) const {
  const size_t skipped = (skip != SkipRequest::kNone && config_.delta_updates && !ended_) ? skippableSegments() : 0;
  const bool v2 = skipped > 0 && skip == SkipRequest::kV2;
  const uint64_t first_kept_msn = skipped < segments_.size() ? segments_[skipped].msn : (open_ ? open_->msn : 0);

  std::string out;
  out.reserve(256 + 64 * date_ranges_.size() + 160 * (segments_.size() + 1) + 96 * reports.size());
  out += "#EXTM3U\n#EXT-X-VERSION:";
  out += std::to_string(skipped == 0 ? 6 : (v2 ? 10 : 9));
  out += "\n#EXT-X-TARGETDURATION:" + std::to_string(targetDurationS());
  out += "\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES";
  if (config_.delta_updates) {
    out += ",CAN-SKIP-UNTIL=";
    appendDuration(out, canSkipUntilUs());
    out += ",CAN-SKIP-DATERANGES=YES";
  }
  out += ",PART-HOLD-BACK=";
  appendDuration(out, partHoldBackUs());
  if (auto hb = holdBackUs()) {
    out += ",HOLD-BACK=";
    appendDuration(out, *hb);
  }
  out += "\n#EXT-X-PART-INF:PART-TARGET=";
  appendDuration(out, part_target_us_);
  out += "\n#EXT-X-MEDIA-SEQUENCE:" + std::to_string(firstMsn()) + "\n";

  const Segment* first = segments_.empty() ? (open_ ? &*open_ : nullptr) : &segments_.front();
  if (first) {
    // Spec 4.4.3.3: the number of the first segment minus its own
    // EXT-X-DISCONTINUITY, which is still listed.
    const uint64_t header_dsn = first->dsn - (first->discontinuity ? 1 : 0);
    const bool listed = std::any_of(segments_.begin(), segments_.end(), [](const Segment& s) { return s.discontinuity; }) ||
                        (open_ && open_->discontinuity);
    if (header_dsn > 0 || listed) out += "#EXT-X-DISCONTINUITY-SEQUENCE:" + std::to_string(header_dsn) + "\n";
    const Segment& first_kept = skipped < segments_.size() ? segments_[skipped] : *open_;
    // The init segment of the first listed segment; with {dsn}, each later
    // discontinuity brings its own EXT-X-MAP.
    out += "#EXT-X-MAP:URI=\"" + initUri(first_kept.dsn) + "\"\n";
  } else {
    out += "#EXT-X-MAP:URI=\"" + initUri(0) + "\"\n";
  }

  for (const auto& d : date_ranges_) {
    if (v2 && d.added_msn < first_kept_msn) continue;
    out += d.tag;
    out += '\n';
  }
  if (skipped > 0) {
    out += "#EXT-X-SKIP:SKIPPED-SEGMENTS=" + std::to_string(skipped);
    if (v2) {
      out += ",RECENTLY-REMOVED-DATERANGES=\"";
      const int64_t now = endUs();
      bool sep = false;
      for (const auto& r : removed_) {
        if (now - r.removed_at_us > canSkipUntilUs()) continue;
        if (sep) out += '\t';
        out += r.id;
        sep = true;
      }
      out += '"';
    }
    out += '\n';
  }

  // Spec 6.2.2: parts go once more than 3 target durations from the end.
  const int64_t parts_from_us = endUs() - 3 * targetDurationS() * kUsPerS;
  for (size_t i = skipped; i < segments_.size(); ++i) {
    renderSegment(out, segments_[i], segments_[i].start_us >= parts_from_us, /*complete=*/true);
  }
  if (open_) renderSegment(out, *open_, /*list_parts=*/true, /*complete=*/false);

  if (ended_) {
    out += "#EXT-X-ENDLIST\n";
  } else if (auto next = nextPart()) {
    out += "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"" + partUri(next->msn, next->part) + "\"\n";
  }
  for (const auto& r : reports) {
    if (!uriOk(r.uri)) continue;
    out += "#EXT-X-RENDITION-REPORT:URI=\"" + r.uri + "\",LAST-MSN=" + std::to_string(r.last_msn);
    if (r.last_part) out += ",LAST-PART=" + std::to_string(*r.last_part);
    out += '\n';
  }
  return out;
}

// ---- blocking playlist reload

bool MediaPlaylist::satisfies(const PlaylistQuery& q) const {
  if (ended_ || !q.msn) return true;
  if (empty()) return false;
  const uint64_t m = *q.msn;
  if (m < firstMsn()) return true;  // spec: deliver the playlist even if M is gone
  if (!segments_.empty()) {
    const Segment& last = segments_.back();
    if (last.msn > m) return true;
    if (last.msn == m) {
      if (!q.part || *q.part < last.parts.size()) return true;
      return open_.has_value();  // past M's last part: part 0 of M+1
    }
  }
  if (open_ && open_->msn == m) return q.part && *q.part < open_->parts.size();
  return false;
}

BlockingDecision MediaPlaylist::decide(const PlaylistQuery& q, int64_t arrived_at_us, int64_t now_us) const {
  BlockingDecision d;
  d.deadline_us = arrived_at_us + blockingTimeoutUs();
  if (ended_) return d;  // spec: ignore _HLS_msn and _HLS_part after ENDLIST
  if (q.part && !q.msn) {
    d.verdict = Verdict::kBadRequest;
    d.reason = "_HLS_part without _HLS_msn";
    return d;
  }
  if (!q.msn) return d;
  if (!empty()) {
    const uint64_t last = lastMsn();
    const uint64_t m = *q.msn;
    if (m > last + 2) {
      d.verdict = Verdict::kBadRequest;
      d.reason = "_HLS_msn " + std::to_string(m) + " more than 2 past the last msn " + std::to_string(last);
      return d;
    }
    if (q.part && m >= last) {
      // Advance Part Limit (spec 6.2.5.2), counted in parts from the newest
      // part, with target/PART-TARGET parts in each segment still to come.
      const int64_t pt_ms = toMs(part_target_us_);
      const int64_t limit = pt_ms < 1000 ? (3000 + pt_ms - 1) / pt_ms : 3;
      const int64_t per_segment = std::max<int64_t>(1, (config_.target_duration_s * 1000 + pt_ms / 2) / pt_ms);
      int64_t distance = 0;
      const uint64_t n = *q.part;
      if (n > (uint64_t{1} << 40)) {
        distance = limit + 1;  // beyond any segment's parts; keeps the sums below from overflowing
      } else if (open_) {
        const int64_t lp = static_cast<int64_t>(open_->parts.size()) - 1;
        const int64_t rest_of_open = std::max<int64_t>(0, per_segment - 1 - lp);
        if (m == last) distance = static_cast<int64_t>(n) - lp;
        else distance = rest_of_open + static_cast<int64_t>(m - last - 1) * per_segment + static_cast<int64_t>(n) + 1;
      } else if (m > last) {  // the next part is part 0 of last + 1
        distance = static_cast<int64_t>(m - last - 1) * per_segment + static_cast<int64_t>(n) + 1;
      }
      if (distance > limit) {
        d.verdict = Verdict::kBadRequest;
        d.reason = "_HLS_part " + std::to_string(n) + " of msn " + std::to_string(m) + " is " +
                   std::to_string(distance) + " parts ahead, past the Advance Part Limit of " + std::to_string(limit);
        return d;
      }
    }
  }
  if (satisfies(q)) return d;
  if (now_us >= d.deadline_us) {
    d.verdict = Verdict::kServiceUnavailable;
    d.reason = "blocked for 3 target durations";
    return d;
  }
  d.verdict = Verdict::kWait;
  return d;
}

// ---- media requests

ResourceState MediaPlaylist::classifyUri(std::string_view uri) const {
  const auto find = [&](uint64_t msn) -> const Segment* {
    if (open_ && open_->msn == msn) return &*open_;
    if (segments_.empty() || msn < segments_.front().msn || msn > segments_.back().msn) return nullptr;
    return &segments_[msn - segments_.front().msn];
  };
  if (auto p = part_.match(uri)) {
    if (const Segment* s = find(p->msn); s && p->part < s->parts.size()) return ResourceState::kAvailable;
    if (ended_) return ResourceState::kNotFound;
    // Either candidate for the next part is held: the hinted one and, at a
    // boundary, the other. The one that does not come then becomes NotFound.
    if (open_ && ((p->msn == open_->msn && p->part == open_->parts.size()) ||
                  (p->msn == open_->msn + 1 && p->part == 0))) {
      return ResourceState::kHold;
    }
    if (auto next = nextPart(); next && *next == PartRef{p->msn, p->part}) return ResourceState::kHold;
    return ResourceState::kNotFound;
  }
  if (auto m = segment_.match(uri)) {
    if (open_ && open_->msn == m->msn) return ResourceState::kHold;
    const Segment* s = find(m->msn);
    return s && !s->gap ? ResourceState::kAvailable : ResourceState::kNotFound;
  }
  if (auto i = init_.match(uri)) {
    if (!init_.has(UriTemplate::Field::kDsn)) return ResourceState::kAvailable;
    const Segment* first = segments_.empty() ? (open_ ? &*open_ : nullptr) : &segments_.front();
    if (!first) return ResourceState::kNotFound;
    if (i->dsn >= first->dsn && i->dsn <= dsn_) return ResourceState::kAvailable;
    if (!ended_ && discontinuity_pending_ && i->dsn == dsn_ + 1) return ResourceState::kHold;
    return ResourceState::kNotFound;
  }
  return ResourceState::kNotFound;
}

// ---------------------------------------------------------------- multivariant

Result<std::string> renderMultivariant(const MultivariantPlaylist& p) {
  const auto bad = [](std::string why) { return makeError(code::kBadMultivariant, std::move(why)); };
  if (p.variants.empty()) return bad("no variant");
  std::string out = "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n";
  for (size_t i = 0; i < p.audio.size(); ++i) {
    const AudioRendition& a = p.audio[i];
    if (a.group_id.empty() || !quotable(a.group_id) || a.name.empty() || !quotable(a.name) ||
        !quotable(a.language) || !quotable(a.channels) || !uriOk(a.uri)) {
      return bad("audio rendition '" + a.name + "': empty or unquotable GROUP-ID, NAME, LANGUAGE, CHANNELS or URI");
    }
    for (size_t j = 0; j < i; ++j) {
      if (p.audio[j].group_id == a.group_id && p.audio[j].is_default && a.is_default) {
        return bad("two default renditions in audio group '" + a.group_id + "'");
      }
      if (p.audio[j].group_id == a.group_id && p.audio[j].name == a.name) {
        return bad("two renditions named '" + a.name + "' in group '" + a.group_id + "'");
      }
    }
    out += "#EXT-X-MEDIA:TYPE=AUDIO,";
    appendQuoted(out, "GROUP-ID", a.group_id);
    appendQuoted(out += ',', "NAME", a.name);
    if (!a.language.empty()) appendQuoted(out += ',', "LANGUAGE", a.language);
    out += a.is_default ? ",DEFAULT=YES" : ",DEFAULT=NO";
    out += a.autoselect || a.is_default ? ",AUTOSELECT=YES" : ",AUTOSELECT=NO";  // spec: DEFAULT=YES needs AUTOSELECT=YES
    if (!a.channels.empty()) appendQuoted(out += ',', "CHANNELS", a.channels);
    appendQuoted(out += ',', "URI", a.uri);
    out += '\n';
  }
  for (const Variant& v : p.variants) {
    if (!uriOk(v.uri) || v.codecs.empty() || !quotable(v.codecs) || !quotable(v.audio_group)) {
      return bad("variant '" + v.uri + "': empty or unquotable URI or CODECS");
    }
    if (v.bandwidth_bps == 0) return bad("variant '" + v.uri + "': BANDWIDTH must be > 0");
    if (v.average_bandwidth_bps > v.bandwidth_bps) return bad("variant '" + v.uri + "': AVERAGE-BANDWIDTH above BANDWIDTH");
    if ((v.width > 0) != (v.height > 0) || v.width < 0 || v.height < 0) {
      return bad("variant '" + v.uri + "': RESOLUTION needs width and height");
    }
    if (!std::isfinite(v.frame_rate) || v.frame_rate < 0 || v.frame_rate > 1000) {
      return bad("variant '" + v.uri + "': bad FRAME-RATE");
    }
    if (!v.audio_group.empty() &&
        std::none_of(p.audio.begin(), p.audio.end(), [&](const AudioRendition& a) { return a.group_id == v.audio_group; })) {
      return bad("variant '" + v.uri + "': no audio rendition in group '" + v.audio_group + "'");
    }
    out += "#EXT-X-STREAM-INF:BANDWIDTH=" + std::to_string(v.bandwidth_bps);
    if (v.average_bandwidth_bps > 0) out += ",AVERAGE-BANDWIDTH=" + std::to_string(v.average_bandwidth_bps);
    appendQuoted(out += ',', "CODECS", v.codecs);
    if (v.width > 0) out += ",RESOLUTION=" + std::to_string(v.width) + "x" + std::to_string(v.height);
    if (v.frame_rate > 0) {
      out += ",FRAME-RATE=";
      appendMs(out, std::llround(v.frame_rate * 1000));
    }
    if (!v.audio_group.empty()) appendQuoted(out += ',', "AUDIO", v.audio_group);
    out += '\n' + v.uri + '\n';
  }
  return out;
}

}  // namespace tutti::media::hls

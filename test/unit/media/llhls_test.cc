#include "tutti/media/llhls.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace tutti::media::hls;

namespace {

constexpr int64_t kS = 1'000'000;
constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14T22:13:20.000Z

MediaPlaylist make(MediaPlaylistConfig c = {}) {
  auto p = MediaPlaylist::create(std::move(c));
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return std::move(p).value();
}

// Feeds a playlist as the packager would: capture times follow media time
// from kT0, the first part of each segment is independent.
struct Packager {
  MediaPlaylist& p;
  uint64_t msn = 100;    // the segment the next part belongs to
  size_t index = 0;      // the next part's index in it
  int64_t media_us = 0;  // media time at the end of everything fed

  tutti::Result<void> part(double s = 0.5) {
    auto r = p.addPart(msn, s, index == 0, kT0 + media_us);
    if (r) {
      ++index;
      media_us += std::llround(s * kS);
    }
    return r;
  }
  // The next part starts a new segment.
  void cut() {
    if (index > 0) ++msn;
    index = 0;
  }
  // n new segments of `parts` parts each; the last one stays open.
  void segments(int n, int parts = 4, double s = 0.5) {
    for (int i = 0; i < n; ++i) {
      cut();
      for (int j = 0; j < parts; ++j) EXPECT_TRUE(part(s).ok());
    }
  }
  tutti::Result<void> gap(double s = 2.0) {
    cut();
    auto r = p.addGap(msn, s);
    if (r) {
      ++msn;
      media_us += std::llround(s * kS);
    }
    return r;
  }
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::vector<std::string> withTag(const std::string& text, const std::string& tag) {
  std::vector<std::string> out;
  for (auto& l : lines(text)) {
    if (l == tag || l.rfind(tag + ":", 0) == 0) out.push_back(l);
  }
  return out;
}

std::string valueOf(const std::string& line) {
  const size_t colon = line.find(':');
  return colon == std::string::npos ? std::string() : line.substr(colon + 1);
}

// ---- a tiny tag parser, independent of the code under test

struct Attr {
  std::string value;
  bool quoted = false;
};
using Attrs = std::map<std::string, Attr>;

bool allOf(std::string_view s, bool (*pred)(char)) { return !s.empty() && std::all_of(s.begin(), s.end(), pred); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool nameChar(char c) { return (c >= 'A' && c <= 'Z') || digit(c) || c == '-'; }
bool isInteger(std::string_view s) { return s.size() <= 20 && allOf(s, digit); }
bool isDecimal(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos) return isInteger(s);
  return isInteger(s.substr(0, dot)) && isInteger(s.substr(dot + 1));
}
// 2023-11-14T22:13:20.000Z
bool isIsoDate(std::string_view s) {
  const std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? !digit(s[i]) : s[i] != shape[i]) return false;
  }
  return true;
}

std::optional<Attrs> parseAttributes(std::string_view s) {
  Attrs out;
  size_t i = 0;
  for (;;) {
    const size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string name(s.substr(i, eq - i));
    if (!allOf(name, nameChar)) return std::nullopt;
    i = eq + 1;
    Attr a;
    if (i < s.size() && s[i] == '"') {
      const size_t close = s.find('"', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      a.value = std::string(s.substr(i + 1, close - i - 1));
      a.quoted = true;
      i = close + 1;
    } else {
      size_t end = s.find(',', i);
      if (end == std::string_view::npos) end = s.size();
      a.value = std::string(s.substr(i, end - i));
      if (a.value.empty() || a.value.find_first_of("\" \t") != std::string::npos) return std::nullopt;
      i = end;
    }
    if (!out.emplace(name, a).second) return std::nullopt;  // an attribute twice
    if (i == s.size()) return out;
    if (s[i] != ',') return std::nullopt;
    ++i;
  }
}

Attrs attrs(const std::string& line) {
  auto a = parseAttributes(valueOf(line));
  EXPECT_TRUE(a.has_value()) << line;
  return a.value_or(Attrs{});
}

// Every line is a known tag with a well-formed value or attribute list, or a
// URI right after EXTINF / EXT-X-STREAM-INF; tags the spec allows once appear once.
testing::AssertionResult reparses(const std::string& text) {
  enum Kind { kQuoted, kDecimal, kInteger, kEnum, kResolution, kDate };
  static const std::map<std::string, Kind> kAttr = {
      {"URI", kQuoted},         {"ID", kQuoted},
      {"CLASS", kQuoted},       {"START-DATE", kDate},
      {"END-DATE", kDate},      {"CODECS", kQuoted},
      {"GROUP-ID", kQuoted},    {"NAME", kQuoted},
      {"LANGUAGE", kQuoted},    {"CHANNELS", kQuoted},
      {"AUDIO", kQuoted},       {"RECENTLY-REMOVED-DATERANGES", kQuoted},
      {"DURATION", kDecimal},   {"PART-TARGET", kDecimal},
      {"CAN-SKIP-UNTIL", kDecimal}, {"PART-HOLD-BACK", kDecimal},
      {"HOLD-BACK", kDecimal},  {"FRAME-RATE", kDecimal},
      {"LAST-MSN", kInteger},   {"LAST-PART", kInteger},
      {"SKIPPED-SEGMENTS", kInteger}, {"BANDWIDTH", kInteger},
      {"AVERAGE-BANDWIDTH", kInteger}, {"CAN-BLOCK-RELOAD", kEnum},
      {"CAN-SKIP-DATERANGES", kEnum}, {"INDEPENDENT", kEnum},
      {"TYPE", kEnum},          {"DEFAULT", kEnum},
      {"AUTOSELECT", kEnum},    {"RESOLUTION", kResolution},
  };
  static const std::map<std::string, std::vector<std::string>> kAttrTags = {
      {"#EXT-X-SERVER-CONTROL", {}},
      {"#EXT-X-PART-INF", {"PART-TARGET"}},
      {"#EXT-X-MAP", {"URI"}},
      {"#EXT-X-PART", {"DURATION", "URI"}},
      {"#EXT-X-PRELOAD-HINT", {"TYPE", "URI"}},
      {"#EXT-X-RENDITION-REPORT", {"URI", "LAST-MSN"}},
      {"#EXT-X-SKIP", {"SKIPPED-SEGMENTS"}},
      {"#EXT-X-DATERANGE", {"ID", "START-DATE"}},
      {"#EXT-X-MEDIA", {"TYPE", "GROUP-ID", "NAME"}},
      {"#EXT-X-STREAM-INF", {"BANDWIDTH"}},
  };
  static const std::set<std::string> kNoValue = {"#EXTM3U", "#EXT-X-GAP", "#EXT-X-DISCONTINUITY", "#EXT-X-ENDLIST",
                                                 "#EXT-X-INDEPENDENT-SEGMENTS"};
  static const std::set<std::string> kIntegerTags = {"#EXT-X-VERSION", "#EXT-X-TARGETDURATION",
                                                     "#EXT-X-MEDIA-SEQUENCE", "#EXT-X-DISCONTINUITY-SEQUENCE"};
  static const std::set<std::string> kOnce = {"#EXTM3U", "#EXT-X-VERSION", "#EXT-X-TARGETDURATION",
                                              "#EXT-X-MEDIA-SEQUENCE", "#EXT-X-DISCONTINUITY-SEQUENCE",
                                              "#EXT-X-SERVER-CONTROL", "#EXT-X-PART-INF", "#EXT-X-SKIP",
                                              "#EXT-X-PRELOAD-HINT", "#EXT-X-ENDLIST", "#EXT-X-INDEPENDENT-SEGMENTS"};
  if (text.empty() || text.back() != '\n') return testing::AssertionFailure() << "no final newline";
  const auto ls = lines(text);
  std::map<std::string, int> seen;
  bool expect_uri = false;
  for (size_t n = 0; n < ls.size(); ++n) {
    const std::string& l = ls[n];
    const auto fail = [&]() { return testing::AssertionFailure() << "line " << n + 1 << ": '" << l << "': "; };
    if (n == 0 && l != "#EXTM3U") return fail() << "first line must be #EXTM3U";
    if (l.empty()) return fail() << "empty line";
    if (l[0] != '#') {
      if (!expect_uri) return fail() << "URI without EXTINF or EXT-X-STREAM-INF";
      if (l.find_first_of("\" \t\r") != std::string::npos) return fail() << "bad URI";
      expect_uri = false;
      continue;
    }
    if (expect_uri) return fail() << "tag where a URI was due";
    const size_t colon = l.find(':');
    const std::string tag = l.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : l.substr(colon + 1);
    if (kOnce.count(tag) && ++seen[tag] > 1) return fail() << "tag twice";
    if (kNoValue.count(tag)) {
      if (colon != std::string::npos) return fail() << "tag takes no value";
    } else if (kIntegerTags.count(tag)) {
      if (!isInteger(value)) return fail() << "not an integer";
    } else if (tag == "#EXTINF") {
      const size_t comma = value.find(',');
      if (comma == std::string::npos || !isDecimal(value.substr(0, comma))) return fail() << "bad EXTINF";
      expect_uri = true;
    } else if (tag == "#EXT-X-PROGRAM-DATE-TIME") {
      if (!isIsoDate(value)) return fail() << "bad date";
    } else if (auto it = kAttrTags.find(tag); it != kAttrTags.end()) {
      auto a = parseAttributes(value);
      if (!a) return fail() << "malformed attribute list";
      for (const auto& req : it->second) {
        if (!a->count(req)) return fail() << "missing " << req;
      }
      for (const auto& [name, attr] : *a) {
        if (name.rfind("X-", 0) == 0) {
          if (!attr.quoted) return fail() << name << " not quoted";
          continue;
        }
        auto k = kAttr.find(name);
        if (k == kAttr.end()) return fail() << "unknown attribute " << name;
        const std::string& v = attr.value;
        bool ok = false;
        switch (k->second) {
          case kQuoted: ok = attr.quoted; break;
          case kDate: ok = attr.quoted && isIsoDate(v); break;
          case kDecimal: ok = !attr.quoted && isDecimal(v); break;
          case kInteger: ok = !attr.quoted && isInteger(v); break;
          case kEnum: ok = !attr.quoted && allOf(v, nameChar); break;
          case kResolution: {
            const size_t x = v.find('x');
            ok = !attr.quoted && x != std::string::npos && isInteger(v.substr(0, x)) && isInteger(v.substr(x + 1));
            break;
          }
        }
        if (!ok) return fail() << "bad value for " << name;
      }
      if (tag == "#EXT-X-STREAM-INF") expect_uri = true;
    } else {
      return fail() << "unknown tag";
    }
  }
  if (expect_uri) return testing::AssertionFailure() << "ends without the URI its last tag announced";
  return testing::AssertionSuccess();
}

uint64_t headerInt(const std::string& text, const std::string& tag) {
  auto found = withTag(text, tag);
  EXPECT_EQ(found.size(), 1u) << tag;
  return found.empty() ? 0 : std::stoull(valueOf(found[0]));
}

// msn of every segment URI line, in order.
std::vector<uint64_t> segmentMsns(const std::string& text) {
  std::vector<uint64_t> out;
  for (auto& l : lines(text)) {
    if (l.rfind("seg-", 0) == 0) out.push_back(std::stoull(l.substr(4)));
  }
  return out;
}

struct PartLine {
  uint64_t msn;
  uint64_t index;
  double duration;
  bool independent;
};
std::vector<PartLine> partLines(const std::string& text) {
  std::vector<PartLine> out;
  for (auto& l : withTag(text, "#EXT-X-PART")) {
    auto a = attrs(l);
    const std::string& uri = a["URI"].value;  // part-<msn>.<i>.m4s
    const size_t dot = uri.find('.', 5);
    out.push_back({std::stoull(uri.substr(5, dot - 5)), std::stoull(uri.substr(dot + 1)), std::stod(a["DURATION"].value),
                   a.count("INDEPENDENT") > 0});
  }
  return out;
}

// Discontinuity sequence number of each listed segment (spec 4.4.3.3): the
// header's value plus the EXT-X-DISCONTINUITY tags before its URI.
std::map<uint64_t, uint64_t> segmentDsns(const std::string& text) {
  std::map<uint64_t, uint64_t> out;
  auto header = withTag(text, "#EXT-X-DISCONTINUITY-SEQUENCE");
  uint64_t dsn = header.empty() ? 0 : std::stoull(valueOf(header[0]));
  for (auto& l : lines(text)) {
    if (l == "#EXT-X-DISCONTINUITY") ++dsn;
    if (l.rfind("seg-", 0) == 0) out[std::stoull(l.substr(4))] = dsn;
  }
  return out;
}

std::string hintUri(const std::string& text) {
  auto h = withTag(text, "#EXT-X-PRELOAD-HINT");
  EXPECT_EQ(h.size(), 1u);
  return h.empty() ? "" : attrs(h[0])["URI"].value;
}

// Builders: partial designated initializers trip -Wmissing-field-initializers.
DateRange range(std::string id, int64_t start_utc_us, std::optional<int64_t> duration_us = std::nullopt,
                std::optional<int64_t> end_utc_us = std::nullopt) {
  DateRange r;
  r.id = std::move(id);
  r.start_utc_us = start_utc_us;
  r.duration_us = duration_us;
  r.end_utc_us = end_utc_us;
  return r;
}

DateRange withClass(DateRange r, std::string class_name) {
  r.class_name = std::move(class_name);
  return r;
}

DateRange withAttributes(DateRange r, std::vector<std::pair<std::string, std::string>> attributes) {
  r.client_attributes = std::move(attributes);
  return r;
}

Variant variant(std::string uri, uint64_t bandwidth_bps, std::string codecs) {
  Variant v;
  v.uri = std::move(uri);
  v.bandwidth_bps = bandwidth_bps;
  v.codecs = std::move(codecs);
  return v;
}

Variant withVideo(Variant v, int width, int height, double frame_rate) {
  v.width = width;
  v.height = height;
  v.frame_rate = frame_rate;
  return v;
}

AudioRendition audioRendition(std::string group_id, std::string name, std::string uri) {
  AudioRendition a;
  a.group_id = std::move(group_id);
  a.name = std::move(name);
  a.uri = std::move(uri);
  return a;
}

MultivariantPlaylist multivariant(std::vector<AudioRendition> audio, std::vector<Variant> variants) {
  MultivariantPlaylist m;
  m.audio = std::move(audio);
  m.variants = std::move(variants);
  return m;
}

PlaylistQuery query(std::optional<uint64_t> msn, std::optional<uint64_t> part = std::nullopt) {
  PlaylistQuery q;
  q.msn = msn;
  q.part = part;
  return q;
}

Verdict verdictOf(const MediaPlaylist& p, const PlaylistQuery& q) { return p.decide(q, 0, 0).verdict; }

}  // namespace

// ---------------------------------------------------------------- config and URIs

TEST(LlhlsConfig, RefusesInconsistentSettings) {
  const auto refused = [](MediaPlaylistConfig c) {
    auto p = MediaPlaylist::create(std::move(c));
    return !p.ok() && p.error().code == code::kBadConfig;
  };
  MediaPlaylistConfig c;
  c.part_target_s = 2.5;  // above the 2 s target
  EXPECT_TRUE(refused(c));
  c = {};
  c.part_target_s = 0.0004;
  EXPECT_TRUE(refused(c));
  c = {};
  c.target_duration_s = 0;
  EXPECT_TRUE(refused(c));
  c = {};
  c.window_segments = 0;
  EXPECT_TRUE(refused(c));
  c = {};
  c.can_skip_until_s = -1;
  EXPECT_TRUE(refused(c));
  c = {};
  c.segment_uri = "seg.m4s";  // no {msn}
  EXPECT_TRUE(refused(c));
  c = {};
  c.part_uri = "part-{msn}.m4s";  // no {part}
  EXPECT_TRUE(refused(c));
  c = {};
  c.init_uri = "init-{msn}.mp4";
  EXPECT_TRUE(refused(c));
  c = {};
  c.part_uri = "part\"{msn}.{part}.m4s";
  EXPECT_TRUE(refused(c));
  EXPECT_TRUE(MediaPlaylist::create(MediaPlaylistConfig{}).ok());
}

TEST(UriTemplate, ExpandsAndMatchesAsExactInverses) {
  auto t = UriTemplate::parse("part-{msn}.{part}.m4s");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->expand({7, 3, 0}), "part-7.3.m4s");
  auto m = t->match("part-7.3.m4s");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->msn, 7u);
  EXPECT_EQ(m->part, 3u);
  auto big = t->match("part-18446744073709551615.0.m4s");
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->msn, UINT64_MAX);
  EXPECT_FALSE(t->match("part-18446744073709551616.0.m4s"));  // overflows
  EXPECT_FALSE(t->match("part-07.3.m4s"));                    // not canonical: expand never writes it
  EXPECT_FALSE(t->match("part-7.3.m4"));
  EXPECT_FALSE(t->match("part-7.3.m4sx"));
  EXPECT_FALSE(t->match("part-.3.m4s"));
  EXPECT_FALSE(t->match("seg-7.m4s"));
}

TEST(UriTemplate, RefusesTemplatesThatCannotBeMatchedUnambiguously) {
  EXPECT_FALSE(UriTemplate::parse("p-{msn}{part}.m4s").ok());  // adjacent
  EXPECT_FALSE(UriTemplate::parse("p-{msn}1.m4s").ok());       // digit after a placeholder
  EXPECT_FALSE(UriTemplate::parse("p-{msn}.{msn}.m4s").ok());  // twice
  EXPECT_FALSE(UriTemplate::parse("p-{foo}.m4s").ok());
  EXPECT_FALSE(UriTemplate::parse("p-{msn.m4s").ok());
  EXPECT_FALSE(UriTemplate::parse("p-}{msn}.m4s").ok());
  EXPECT_FALSE(UriTemplate::parse("p {msn}.m4s").ok());
  EXPECT_FALSE(UriTemplate::parse("").ok());
  EXPECT_TRUE(UriTemplate::parse("{msn}.m4s").ok());
}

// ---------------------------------------------------------------- parts and targets

TEST(MediaPlaylist, PartTargetComesFromTheConfigAndNoListedPartExceedsIt) {
  auto p = make();
  Packager pk{p};
  for (double d : {0.5, 0.4999, 0.3, 0.5004, 0.2, 0.5, 0.45}) {
    if (pk.index == 4) pk.cut();
    ASSERT_TRUE(pk.part(d).ok()) << d;
  }
  const std::string text = p.render();
  const double part_target = std::stod(attrs(withTag(text, "#EXT-X-PART-INF")[0])["PART-TARGET"].value);
  EXPECT_EQ(attrs(withTag(text, "#EXT-X-PART-INF")[0])["PART-TARGET"].value, "0.500");
  const auto parts = partLines(text);
  ASSERT_EQ(parts.size(), 7u);
  for (const auto& part : parts) EXPECT_LE(part.duration, part_target) << part.msn << "." << part.index;
}

TEST(MediaPlaylist, RefusesAPartLongerThanThePartTargetAndChangesNothing) {
  auto p = make();
  Packager pk{p};
  ASSERT_TRUE(pk.part(0.5).ok());
  const std::string before = p.render();
  const uint64_t revision = p.revision();
  auto r = p.addPart(100, 0.5006, false, kT0 + kS);  // prints as 0.501
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code::kPartTooLong);
  auto first = p.addPart(101, 0.75, true, kT0 + kS);  // also when it would start a segment
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, code::kPartTooLong);
  EXPECT_EQ(p.revision(), revision);
  EXPECT_EQ(p.render(), before);
}

TEST(MediaPlaylist, RefusesDurationsThatAreNotPositiveAndFinite) {
  auto p = make();
  for (double d : {0.0, -0.1, 0.0004, std::nan(""), static_cast<double>(INFINITY)}) {
    auto r = p.addPart(100, d, true, kT0);
    ASSERT_FALSE(r.ok()) << d;
    EXPECT_EQ(r.error().code, code::kBadDuration);
  }
  EXPECT_TRUE(p.empty());
}

TEST(MediaPlaylist, PartHoldBackIsAtLeastThreePartTargets) {
  const auto phb = [](double configured) {
    MediaPlaylistConfig c;
    c.part_hold_back_s = configured;
    auto p = make(c);
    return attrs(withTag(p.render(), "#EXT-X-SERVER-CONTROL")[0])["PART-HOLD-BACK"].value;
  };
  EXPECT_EQ(phb(0), "1.500");  // 3 x 0.5
  EXPECT_EQ(phb(0.9), "1.500");
  EXPECT_EQ(phb(2.25), "2.250");
}

TEST(MediaPlaylist, CanSkipUntilIsAtLeastSixTargetDurations) {
  MediaPlaylistConfig c;
  c.can_skip_until_s = 5;
  auto p = make(c);
  Packager pk{p};
  pk.segments(2);
  auto skip = [&] { return attrs(withTag(p.render(), "#EXT-X-SERVER-CONTROL")[0])["CAN-SKIP-UNTIL"].value; };
  EXPECT_EQ(skip(), "12.000");  // 6 x 2
  pk.segments(1, 6);            // a 3 s segment: the target becomes 3
  pk.segments(1);
  EXPECT_EQ(headerInt(p.render(), "#EXT-X-TARGETDURATION"), 3u);
  EXPECT_EQ(skip(), "18.000");
  c.can_skip_until_s = 20;
  EXPECT_EQ(attrs(withTag(make(c).render(), "#EXT-X-SERVER-CONTROL")[0])["CAN-SKIP-UNTIL"].value, "20.000");
}

TEST(MediaPlaylist, HoldBackWhenPresentIsAtLeastThreeTargetDurations) {
  EXPECT_EQ(attrs(withTag(make().render(), "#EXT-X-SERVER-CONTROL")[0]).count("HOLD-BACK"), 0u);
  MediaPlaylistConfig c;
  c.hold_back_s = 1;
  EXPECT_EQ(attrs(withTag(make(c).render(), "#EXT-X-SERVER-CONTROL")[0])["HOLD-BACK"].value, "6.000");
  c.hold_back_s = 7.5;
  EXPECT_EQ(attrs(withTag(make(c).render(), "#EXT-X-SERVER-CONTROL")[0])["HOLD-BACK"].value, "7.500");
}

TEST(MediaPlaylist, TargetDurationIsNeverBelowTheConfiguredOne) {
  MediaPlaylistConfig c;
  c.target_duration_s = 4;
  auto p = make(c);
  Packager pk{p};
  pk.segments(3);  // 2 s segments
  EXPECT_EQ(headerInt(p.render(), "#EXT-X-TARGETDURATION"), 4u);
}

TEST(MediaPlaylist, TargetDurationCoversALongerSegmentRoundedToTheNearestSecondAndNeverDecreases) {
  MediaPlaylistConfig c;
  c.window_segments = 3;
  auto p = make(c);
  Packager pk{p};
  pk.segments(1);
  ASSERT_TRUE(pk.part(0.4).ok());  // segment 100: 2.4 s, rounds to 2
  pk.segments(1);
  EXPECT_EQ(headerInt(p.render(), "#EXT-X-TARGETDURATION"), 2u);
  ASSERT_TRUE(pk.part(0.1).ok());  // segment 101: 2.1 s
  ASSERT_TRUE(pk.part(0.5).ok());  // 2.6 s, rounds to 3
  pk.segments(1);
  EXPECT_EQ(headerInt(p.render(), "#EXT-X-TARGETDURATION"), 3u);
  pk.segments(10);
  const std::string text = p.render();
  EXPECT_GT(headerInt(text, "#EXT-X-MEDIA-SEQUENCE"), 101u);  // the long segment has left
  EXPECT_EQ(headerInt(text, "#EXT-X-TARGETDURATION"), 3u);
}

// ---------------------------------------------------------------- the window

TEST(MediaPlaylist, MediaSequenceAdvancesByExactlyTheSegmentsDropped) {
  MediaPlaylistConfig c;
  c.window_segments = 4;
  auto p = make(c);
  Packager pk{p};
  pk.segments(1);
  std::vector<uint64_t> prev = segmentMsns(p.render());
  uint64_t prev_seq = headerInt(p.render(), "#EXT-X-MEDIA-SEQUENCE");
  size_t dropped_total = 0;
  for (int i = 0; i < 15; ++i) {
    pk.segments(1);
    const std::string text = p.render();
    const auto now = segmentMsns(text);
    const uint64_t seq = headerInt(text, "#EXT-X-MEDIA-SEQUENCE");
    const size_t dropped = std::count_if(prev.begin(), prev.end(), [&](uint64_t m) {
      return std::find(now.begin(), now.end(), m) == now.end();
    });
    EXPECT_EQ(seq - prev_seq, dropped) << "step " << i;
    ASSERT_FALSE(now.empty());
    EXPECT_EQ(now.front(), seq);
    EXPECT_LE(now.size(), 4u);
    dropped_total += dropped;
    prev = now;
    prev_seq = seq;
  }
  EXPECT_EQ(dropped_total, 11u);  // 15 complete segments, 4 kept
  EXPECT_EQ(prev_seq, 111u);
}

TEST(MediaPlaylist, MsnAndPartIndicesStayContinuousAcrossWindowSlides) {
  MediaPlaylistConfig c;
  c.window_segments = 5;
  auto p = make(c);
  Packager pk{p};
  uint64_t last_first = 0;
  for (int step = 0; step < 60; ++step) {
    if (pk.index == 4) pk.cut();
    ASSERT_TRUE(pk.part().ok());
    const std::string text = p.render();
    const uint64_t seq = headerInt(text, "#EXT-X-MEDIA-SEQUENCE");
    EXPECT_GE(seq, last_first);
    last_first = seq;
    const auto segs = segmentMsns(text);
    for (size_t i = 0; i < segs.size(); ++i) EXPECT_EQ(segs[i], seq + i) << text;
    // Parts: a run of whole segments then the one being built, indices from 0 without holes.
    const auto parts = partLines(text);
    ASSERT_FALSE(parts.empty());
    for (size_t i = 1; i < parts.size(); ++i) {
      const bool next_index = parts[i].msn == parts[i - 1].msn && parts[i].index == parts[i - 1].index + 1;
      const bool next_segment = parts[i].msn == parts[i - 1].msn + 1 && parts[i].index == 0;
      EXPECT_TRUE(next_index || next_segment) << text;
    }
    EXPECT_EQ(parts.front().index, 0u);
    EXPECT_EQ(parts.back().msn, pk.msn);
    EXPECT_EQ(parts.back().index, pk.index - 1);
    EXPECT_EQ(parts.back().msn, (segs.empty() ? seq : segs.back() + 1));
    EXPECT_EQ(p.lastMsn(), pk.msn);
    EXPECT_EQ(p.lastPart(), pk.index - 1);
  }
  EXPECT_GT(last_first, 100u);
}

TEST(MediaPlaylist, KeepsAtLeastThreeTargetDurationsWhenSegmentsAreShort) {
  MediaPlaylistConfig c;
  c.window_segments = 2;
  auto p = make(c);
  Packager pk{p};
  pk.segments(20, 2);  // 1 s segments, target 2 s
  EXPECT_EQ(segmentMsns(p.render()).size(), 6u);  // 6 s = 3 target durations
}

TEST(MediaPlaylist, RefusesAnMsnOutOfOrderAndChangesNothing) {
  auto p = make();
  Packager pk{p};
  pk.segments(2);  // 100 complete, 101 open
  const uint64_t revision = p.revision();
  for (uint64_t msn : {103u, 100u, 99u}) {
    auto r = p.addPart(msn, 0.5, true, kT0 + 10 * kS);
    ASSERT_FALSE(r.ok()) << msn;
    EXPECT_EQ(r.error().code, code::kOutOfOrder);
    auto g = p.addGap(msn, 2.0);
    ASSERT_FALSE(g.ok()) << msn;
    EXPECT_EQ(g.error().code, code::kOutOfOrder);
  }
  EXPECT_EQ(p.revision(), revision);
  EXPECT_TRUE(p.addPart(102, 0.5, true, kT0 + 10 * kS).ok());
}

TEST(MediaPlaylist, RefusesASegmentThatDoesNotStartWithAnIndependentPart) {
  auto p = make();
  auto r = p.addPart(100, 0.5, false, kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code::kNotIndependent);
  ASSERT_TRUE(p.addPart(100, 0.5, true, kT0).ok());
  EXPECT_TRUE(p.addPart(100, 0.5, false, kT0 + 500'000).ok());  // later parts need not be
  EXPECT_FALSE(p.addPart(101, 0.5, false, kT0 + kS).ok());
}

TEST(MediaPlaylist, RefusesChangesAfterTheEnd) {
  auto p = make();
  Packager pk{p};
  pk.segments(2);
  p.end();
  p.end();  // idempotent
  const uint64_t revision = p.revision();
  EXPECT_EQ(pk.part().error().code, code::kEnded);
  EXPECT_EQ(p.addGap(102, 2.0).error().code, code::kEnded);
  EXPECT_EQ(p.markDiscontinuity().error().code, code::kEnded);
  EXPECT_EQ(p.addDateRange(range("late", kT0)).error().code, code::kEnded);
  EXPECT_EQ(p.revision(), revision);
  const std::string text = p.render();
  EXPECT_EQ(lines(text).back(), "#EXT-X-ENDLIST");
  EXPECT_EQ(segmentMsns(text), (std::vector<uint64_t>{100, 101}));  // the open segment completed
}

TEST(MediaPlaylist, RevisionGrowsWithEveryAcceptedChangeOnly) {
  auto p = make();
  uint64_t r = p.revision();
  ASSERT_TRUE(p.addPart(100, 0.5, true, kT0).ok());
  EXPECT_GT(p.revision(), r);
  r = p.revision();
  EXPECT_FALSE(p.addPart(100, 0.9, false, kT0).ok());
  EXPECT_EQ(p.revision(), r);
  ASSERT_TRUE(p.addDateRange(range("a", kT0)).ok());
  EXPECT_GT(p.revision(), r);
}

// ---------------------------------------------------------------- preload hint

TEST(MediaPlaylist, PreloadHintNamesTheNextPartOfTheSegmentBeingBuilt) {
  auto p = make();
  Packager pk{p};
  ASSERT_TRUE(pk.part().ok());
  ASSERT_TRUE(pk.part().ok());
  const std::string text = p.render();
  EXPECT_EQ(hintUri(text), "part-100.2.m4s");
  EXPECT_EQ(lines(text).back(), "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-100.2.m4s\"");
  ASSERT_TRUE(pk.part().ok());  // 1.5 s of 2: the segment goes on
  EXPECT_EQ(hintUri(p.render()), "part-100.3.m4s");
}

TEST(MediaPlaylist, PreloadHintNamesPartZeroOfTheNextSegmentOnceTheSegmentIsFull) {
  auto p = make();
  Packager pk{p};
  pk.segments(1);  // 4 x 0.5 s: the nominal 2 s
  EXPECT_EQ(hintUri(p.render()), "part-101.0.m4s");
  EXPECT_EQ(p.nextPart(), (MediaPlaylist::PartRef{101, 0}));
}

TEST(MediaPlaylist, PreloadHintFollowsTheNewSegmentAcrossTheBoundary) {
  auto p = make();
  Packager pk{p};
  pk.segments(1);
  pk.cut();
  ASSERT_TRUE(pk.part().ok());
  const std::string text = p.render();
  EXPECT_EQ(hintUri(text), "part-101.1.m4s");
  EXPECT_EQ(segmentMsns(text), std::vector<uint64_t>{100});
  // After a gap, the next part can only start the next segment.
  ASSERT_TRUE(pk.gap().ok());  // 101 complete, 102 a gap
  EXPECT_EQ(hintUri(p.render()), "part-103.0.m4s");
}

TEST(MediaPlaylist, NoPreloadHintOnceEnded) {
  auto p = make();
  Packager pk{p};
  pk.segments(2);
  p.end();
  EXPECT_TRUE(withTag(p.render(), "#EXT-X-PRELOAD-HINT").empty());
  EXPECT_FALSE(p.nextPart().has_value());
}

// ---------------------------------------------------------------- media requests

TEST(MediaPlaylist, ClassifiesPartRequestsAsAvailableHeldOrNotFound) {
  auto p = make();
  Packager pk{p};
  pk.segments(1);
  pk.cut();
  ASSERT_TRUE(pk.part().ok());
  ASSERT_TRUE(pk.part().ok());  // 100 complete, 101 open with parts 0 and 1
  EXPECT_EQ(p.classifyUri("part-100.3.m4s"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("part-101.1.m4s"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("part-101.2.m4s"), ResourceState::kHold);  // the hinted one
  EXPECT_EQ(p.classifyUri("part-102.0.m4s"), ResourceState::kHold);  // the other candidate
  EXPECT_EQ(p.classifyUri("part-101.3.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("part-102.1.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("part-100.4.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("part-99.0.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("part-0101.1.m4s"), ResourceState::kNotFound);
  // The segment boundary comes: the part that was not made is never coming.
  pk.cut();
  ASSERT_TRUE(pk.part().ok());
  EXPECT_EQ(p.classifyUri("part-101.2.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("part-102.0.m4s"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("part-102.1.m4s"), ResourceState::kHold);
}

TEST(MediaPlaylist, KeepsPartsDownloadableAfterTheirTagsLeaveThePlaylist) {
  auto p = make();
  Packager pk{p};
  pk.segments(8);
  const auto parts = partLines(p.render());
  ASSERT_GT(parts.front().msn, 100u);  // 100's tags are gone
  EXPECT_EQ(p.classifyUri("part-100.0.m4s"), ResourceState::kAvailable);
  pk.segments(20);  // now 100 has left the window
  EXPECT_EQ(p.classifyUri("part-100.0.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("seg-100.m4s"), ResourceState::kNotFound);
}

TEST(MediaPlaylist, ClassifiesSegmentAndInitRequests) {
  auto p = make();
  EXPECT_EQ(p.classifyUri("part-100.0.m4s"), ResourceState::kNotFound);  // nothing yet
  Packager pk{p};
  pk.segments(2);
  EXPECT_EQ(p.classifyUri("seg-100.m4s"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("seg-101.m4s"), ResourceState::kHold);  // being built
  EXPECT_EQ(p.classifyUri("seg-102.m4s"), ResourceState::kNotFound);
  EXPECT_EQ(p.classifyUri("init.mp4"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("index.m3u8"), ResourceState::kNotFound);
  ASSERT_TRUE(pk.gap().ok());
  EXPECT_EQ(p.classifyUri("seg-102.m4s"), ResourceState::kNotFound);  // a gap has no media
  p.end();
  EXPECT_EQ(p.classifyUri("part-103.0.m4s"), ResourceState::kNotFound);
}

// ---------------------------------------------------------------- blocking requests

TEST(PlaylistQuery, ParsesDeliveryDirectivesAndIgnoresOtherParameters) {
  auto q = parsePlaylistQuery("?_HLS_msn=12&foo=bar&_HLS_part=3&_HLS_skip=YES&x");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->msn, 12u);
  EXPECT_EQ(q->part, 3u);
  EXPECT_EQ(q->skip, SkipRequest::kYes);
  EXPECT_EQ(parsePlaylistQuery("_HLS_skip=v2")->skip, SkipRequest::kV2);
  EXPECT_EQ(parsePlaylistQuery("_HLS_skip=no")->skip, SkipRequest::kNone);
  auto empty = parsePlaylistQuery("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->msn.has_value());
  EXPECT_FALSE(empty->part.has_value());
  EXPECT_EQ(parsePlaylistQuery("_HLS_msn=007")->msn, 7u);
}

TEST(PlaylistQuery, RefusesMalformedOrRepeatedNumbers) {
  for (const char* bad : {"_HLS_msn=", "_HLS_msn", "_HLS_msn=-1", "_HLS_msn=+1", "_HLS_msn=1x", "_HLS_msn=1.0",
                          "_HLS_msn=99999999999999999999", "_HLS_msn=1&_HLS_msn=2", "_HLS_msn=1&_HLS_part=abc",
                          "_HLS_part= 1"}) {
    auto q = parsePlaylistQuery(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.error().code, code::kBadQuery) << bad;
  }
}

class Blocking : public testing::Test {
 protected:
  void SetUp() override {
    pk.segments(2);
    pk.cut();
    ASSERT_TRUE(pk.part().ok());
    ASSERT_TRUE(pk.part().ok());  // 100, 101 complete; 102 open with parts 0, 1
  }
  MediaPlaylist p = make();
  Packager pk{p};
};

TEST_F(Blocking, ReadyWhenThePlaylistHasTheRequestedPart) {
  for (auto q : {query(102, 1), query(102, 0), query(101, 3), query(101), query(100, 0), query(std::nullopt)}) {
    EXPECT_TRUE(p.satisfies(q));
    auto d = p.decide(q, 0, 0);
    EXPECT_EQ(d.verdict, Verdict::kReady) << d.reason;
    EXPECT_EQ(httpStatus(d.verdict), 200);
  }
}

TEST_F(Blocking, WaitsForWhatIsNotThereYet) {
  for (auto q : {query(102, 2), query(102), query(103, 0), query(103), query(104)}) {
    EXPECT_FALSE(p.satisfies(q));
    EXPECT_EQ(verdictOf(p, q), Verdict::kWait);
  }
  EXPECT_EQ(httpStatus(Verdict::kWait), 0);
}

TEST_F(Blocking, ALaterMsnSatisfiesTheRequest) {
  const auto q = query(102, 3);
  EXPECT_EQ(verdictOf(p, q), Verdict::kWait);
  pk.cut();  // segment 102 ends after two parts; 103 starts
  ASSERT_TRUE(pk.part().ok());
  EXPECT_TRUE(p.satisfies(q));
  EXPECT_TRUE(p.satisfies(query(102)));
}

TEST_F(Blocking, APartPastTheLastOfACompleteSegmentMeansPartZeroOfTheNext) {
  EXPECT_TRUE(p.satisfies(query(101, 4)));  // 101 has 4 parts: (102, 0) is there
  ASSERT_TRUE(pk.gap().ok());               // 102 complete, 103 a gap, nothing open
  const auto q = query(103, 0);             // a gap has no parts: wait for (104, 0)
  EXPECT_EQ(verdictOf(p, q), Verdict::kWait);
  EXPECT_TRUE(p.satisfies(query(102, 9)));
  pk.cut();
  ASSERT_TRUE(pk.part().ok());
  EXPECT_EQ(pk.msn, 104u);
  EXPECT_EQ(verdictOf(p, q), Verdict::kReady);
}

TEST_F(Blocking, RefusesAnMsnMoreThanTwoPastTheLast) {
  EXPECT_EQ(p.lastMsn(), 102u);
  EXPECT_EQ(verdictOf(p, query(104)), Verdict::kWait);
  const auto d = p.decide(query(105), 0, 0);
  EXPECT_EQ(d.verdict, Verdict::kBadRequest);
  EXPECT_EQ(httpStatus(d.verdict), 400);
  EXPECT_FALSE(d.reason.empty());
  EXPECT_EQ(verdictOf(p, query(UINT64_MAX)), Verdict::kBadRequest);
}

TEST_F(Blocking, RefusesAPartWithoutAnMsn) {
  EXPECT_EQ(verdictOf(p, query(std::nullopt, 0)), Verdict::kBadRequest);
}

TEST_F(Blocking, RefusesAPartBeyondTheAdvancePartLimit) {
  // PART-TARGET 0.5 s: the limit is 3 / 0.5 = 6 parts past the newest, (102, 1).
  EXPECT_EQ(verdictOf(p, query(102, 7)), Verdict::kWait);
  EXPECT_EQ(verdictOf(p, query(102, 8)), Verdict::kBadRequest);
  // Into the next segment: 2 more parts of 102 expected (4 per segment), then 103's.
  EXPECT_EQ(verdictOf(p, query(103, 3)), Verdict::kWait);        // 2 + 4 = 6
  EXPECT_EQ(verdictOf(p, query(103, 4)), Verdict::kBadRequest);  // 7
  EXPECT_EQ(verdictOf(p, query(104, 0)), Verdict::kBadRequest);  // 2 + 4 + 1 = 7
  EXPECT_EQ(verdictOf(p, query(102, UINT64_MAX)), Verdict::kBadRequest);
  EXPECT_EQ(verdictOf(p, query(101, 1000)), Verdict::kReady);  // an older segment: part 0 of the next
}

TEST(BlockingLimits, TheAdvancePartLimitIsThreeSecondsOfPartsOrThreeParts) {
  const auto limitFor = [](double part_target) {
    MediaPlaylistConfig c;
    c.part_target_s = part_target;
    auto p = make(c);
    EXPECT_TRUE(p.addPart(100, part_target, true, kT0).ok());  // newest: (100, 0)
    uint64_t n = 0;
    while (p.decide(query(100, n + 1), 0, 0).verdict != Verdict::kBadRequest && n < 100) ++n;
    return n;  // the furthest part index still accepted
  };
  EXPECT_EQ(limitFor(0.2), 15u);  // 3 / 0.2
  EXPECT_EQ(limitFor(0.5), 6u);
  EXPECT_EQ(limitFor(1.0), 3u);  // not below 1 s: 3
  EXPECT_EQ(limitFor(1.5), 3u);
}

TEST_F(Blocking, AnswersServiceUnavailableThreeTargetDurationsAfterArrival) {
  const auto q = query(102, 2);
  const int64_t arrived = 5'000'000;
  auto d = p.decide(q, arrived, arrived);
  EXPECT_EQ(d.verdict, Verdict::kWait);
  EXPECT_EQ(d.deadline_us, arrived + 6 * kS);  // 3 x 2 s
  EXPECT_EQ(p.decide(q, arrived, arrived + 6 * kS - 1).verdict, Verdict::kWait);
  d = p.decide(q, arrived, arrived + 6 * kS);
  EXPECT_EQ(d.verdict, Verdict::kServiceUnavailable);
  EXPECT_EQ(httpStatus(d.verdict), 503);
  // Ready wins over the deadline if the part came in time.
  ASSERT_TRUE(pk.part().ok());
  EXPECT_EQ(p.decide(q, arrived, arrived + 6 * kS).verdict, Verdict::kReady);
}

TEST_F(Blocking, ReleasesAWaiterWhenThePartArrives) {
  const auto q = query(102, 3);
  EXPECT_FALSE(p.satisfies(q));
  ASSERT_TRUE(pk.part().ok());  // (102, 2)
  EXPECT_FALSE(p.satisfies(q));
  ASSERT_TRUE(pk.part().ok());  // (102, 3)
  EXPECT_TRUE(p.satisfies(q));
  EXPECT_EQ(p.decide(q, 0, 1).verdict, Verdict::kReady);
  const std::string text = p.render();
  EXPECT_FALSE(partLines(text).empty());
  EXPECT_EQ(partLines(text).back().msn, 102u);
  EXPECT_EQ(partLines(text).back().index, 3u);
}

TEST_F(Blocking, IgnoresTheDirectivesOnceThePlaylistHasEnded) {
  p.end();
  for (auto q : {query(500), query(std::nullopt, 3), query(102, 99), query(103, 0)}) {
    EXPECT_TRUE(p.satisfies(q));
    EXPECT_EQ(p.decide(q, 0, 100 * kS).verdict, Verdict::kReady);
  }
}

TEST(BlockingEmpty, AnEmptyPlaylistMakesBlockingRequestsWait) {
  auto p = make();
  EXPECT_EQ(verdictOf(p, query(0)), Verdict::kWait);
  EXPECT_EQ(p.decide(query(0), 0, 6 * kS).verdict, Verdict::kServiceUnavailable);
  EXPECT_EQ(verdictOf(p, query(std::nullopt)), Verdict::kReady);
}

TEST(BlockingWindow, AnMsnOlderThanTheWindowIsAnsweredAtOnce) {
  MediaPlaylistConfig c;
  c.window_segments = 4;
  auto p = make(c);
  Packager pk{p};
  pk.segments(10);
  ASSERT_GT(p.firstMsn(), 101u);
  EXPECT_EQ(verdictOf(p, query(101, 2)), Verdict::kReady);
  EXPECT_EQ(verdictOf(p, query(101)), Verdict::kReady);
}

// ---------------------------------------------------------------- delta updates

class Delta : public testing::Test {
 protected:
  void SetUp() override {
    pk.segments(12);
    pk.cut();
    ASSERT_TRUE(pk.part().ok());  // 100..111 complete (24 s), 112 open
  }
  MediaPlaylist p = make();
  Packager pk{p};
};

TEST_F(Delta, SkipsTheSegmentsOlderThanCanSkipUntil) {
  const std::string full = p.render();
  // Independently: from EXTINF and CAN-SKIP-UNTIL, the segments that end
  // more than CAN-SKIP-UNTIL before the last one ends.
  const double boundary = std::stod(attrs(withTag(full, "#EXT-X-SERVER-CONTROL")[0])["CAN-SKIP-UNTIL"].value);
  std::vector<double> ends;
  double t = 0;
  for (auto& l : withTag(full, "#EXTINF")) ends.push_back(t += std::stod(valueOf(l)));
  const auto expected = std::count_if(ends.begin(), ends.end(), [&](double e) { return ends.back() - e > boundary + 1e-9; });
  EXPECT_EQ(expected, 5);
  const std::string delta = p.render(SkipRequest::kYes);
  auto skip = withTag(delta, "#EXT-X-SKIP");
  ASSERT_EQ(skip.size(), 1u);
  EXPECT_EQ(attrs(skip[0])["SKIPPED-SEGMENTS"].value, std::to_string(expected));
  EXPECT_EQ(attrs(skip[0]).count("RECENTLY-REMOVED-DATERANGES"), 0u);
  EXPECT_EQ(headerInt(delta, "#EXT-X-VERSION"), 9u);
  EXPECT_EQ(headerInt(full, "#EXT-X-VERSION"), 6u);
  EXPECT_EQ(headerInt(delta, "#EXT-X-MEDIA-SEQUENCE"), headerInt(full, "#EXT-X-MEDIA-SEQUENCE"));
  EXPECT_EQ(segmentMsns(delta).front(), 105u);
}

TEST_F(Delta, TheRestIsExactlyTheTailOfTheFullPlaylist) {
  ASSERT_TRUE(p.addDateRange(range("now", kT0 + 24 * kS)).ok());
  const auto full = lines(p.render());
  const auto delta = lines(p.render(SkipRequest::kYes));
  const auto skip_at = std::find_if(delta.begin(), delta.end(), [](auto& l) { return l.rfind("#EXT-X-SKIP:", 0) == 0; });
  ASSERT_NE(skip_at, delta.end());
  const auto last_skipped = std::find(full.begin(), full.end(), "seg-104.m4s");
  ASSERT_NE(last_skipped, full.end());
  EXPECT_EQ(std::vector<std::string>(skip_at + 1, delta.end()), std::vector<std::string>(last_skipped + 1, full.end()));
  // The head: the same tags but for the version.
  const auto first_segment = std::find_if(full.begin(), full.end(), [](auto& l) { return l.rfind("#EXT-X-PROGRAM-DATE-TIME", 0) == 0; });
  std::vector<std::string> full_head(full.begin(), first_segment), delta_head(delta.begin(), skip_at);
  ASSERT_EQ(full_head.size(), delta_head.size());
  for (size_t i = 0; i < full_head.size(); ++i) {
    if (full_head[i].rfind("#EXT-X-VERSION", 0) == 0) continue;
    EXPECT_EQ(full_head[i], delta_head[i]);
  }
}

TEST_F(Delta, GivesTheFullPlaylistWhenNotAskedNothingSkippableOrEnded) {
  EXPECT_TRUE(withTag(p.render(), "#EXT-X-SKIP").empty());
  auto young = make();
  Packager ypk{young};
  ypk.segments(5);  // 8 s of complete segments: nothing beyond 12 s
  EXPECT_EQ(young.render(SkipRequest::kYes), young.render());
  p.end();
  EXPECT_EQ(p.render(SkipRequest::kV2), p.render());
  MediaPlaylistConfig c;
  c.delta_updates = false;
  auto off = make(c);
  Packager opk{off};
  opk.segments(13);
  EXPECT_TRUE(withTag(off.render(SkipRequest::kYes), "#EXT-X-SKIP").empty());
  EXPECT_EQ(attrs(withTag(off.render(), "#EXT-X-SERVER-CONTROL")[0]).count("CAN-SKIP-UNTIL"), 0u);
}

TEST(DeltaDateRanges, V2LeavesOutDateRangesOfSkippedSegmentsAndListsTheRemovedOnes) {
  auto p = make();
  Packager pk{p};
  pk.segments(1);  // 100 being built
  ASSERT_TRUE(p.addDateRange(range("early", kT0 + 100'000, kS)).ok());
  pk.segments(3);  // 103 being built
  ASSERT_TRUE(p.addDateRange(range("mid", kT0 + 7 * kS, 60 * kS)).ok());
  pk.segments(10);  // 113 being built; 101..112 kept, so "early" (until 1.1 s) is gone
  ASSERT_TRUE(p.addDateRange(range("late", kT0 + 26 * kS)).ok());

  const std::string full = p.render();
  EXPECT_EQ(full.find("ID=\"early\""), std::string::npos);
  EXPECT_NE(full.find("ID=\"mid\""), std::string::npos);

  const std::string v2 = p.render(SkipRequest::kV2);
  auto skip = withTag(v2, "#EXT-X-SKIP");
  ASSERT_EQ(skip.size(), 1u);
  EXPECT_EQ(attrs(skip[0])["SKIPPED-SEGMENTS"].value, "5");  // 101..105; "mid" came with 103
  EXPECT_EQ(attrs(skip[0])["RECENTLY-REMOVED-DATERANGES"].value, "early");
  EXPECT_EQ(v2.find("ID=\"mid\""), std::string::npos);
  EXPECT_NE(v2.find("ID=\"late\""), std::string::npos);
  EXPECT_EQ(headerInt(v2, "#EXT-X-VERSION"), 10u);

  const std::string yes = p.render(SkipRequest::kYes);  // YES skips segments only
  EXPECT_NE(yes.find("ID=\"mid\""), std::string::npos);
  EXPECT_NE(yes.find("ID=\"late\""), std::string::npos);
  EXPECT_EQ(attrs(withTag(yes, "#EXT-X-SKIP")[0]).count("RECENTLY-REMOVED-DATERANGES"), 0u);
  EXPECT_EQ(attrs(withTag(full, "#EXT-X-SERVER-CONTROL")[0])["CAN-SKIP-DATERANGES"].value, "YES");
}

TEST(DeltaDateRanges, RemovedDateRangesAreListedForCanSkipUntilOnly) {
  auto p = make();
  Packager pk{p};
  pk.segments(1);
  ASSERT_TRUE(p.addDateRange(range("a", kT0, 500'000)).ok());
  ASSERT_TRUE(p.addDateRange(range("b", kT0 + 2 * kS, 500'000)).ok());
  pk.segments(13);  // "a" leaves with 100
  EXPECT_EQ(attrs(withTag(p.render(SkipRequest::kV2), "#EXT-X-SKIP")[0])["RECENTLY-REMOVED-DATERANGES"].value, "a");
  pk.segments(1);  // "b" leaves with 101
  EXPECT_EQ(attrs(withTag(p.render(SkipRequest::kV2), "#EXT-X-SKIP")[0])["RECENTLY-REMOVED-DATERANGES"].value, "a\tb");
  pk.segments(5);  // the playlist now ends 14 s after "a" left and 12 s after "b" did
  EXPECT_EQ(attrs(withTag(p.render(SkipRequest::kV2), "#EXT-X-SKIP")[0])["RECENTLY-REMOVED-DATERANGES"].value, "b");
  pk.segments(1);
  EXPECT_EQ(attrs(withTag(p.render(SkipRequest::kV2), "#EXT-X-SKIP")[0])["RECENTLY-REMOVED-DATERANGES"].value, "");
}

// ---------------------------------------------------------------- date ranges

TEST(DateRanges, RendersTheAttributesQuotedAsTheSpecSays) {
  auto p = make();
  const DateRange r = withAttributes(withClass(range("ad-1", kT0 + 1'500'000, 30 * kS, kT0 + 31'500'000), "com.tutti.ad"),
                                     {{"X-ASSET", "abc"}, {"X-COM-TUTTI-ROOM", "lobby 1"}});
  ASSERT_TRUE(p.addDateRange(r).ok());
  auto tags = withTag(p.render(), "#EXT-X-DATERANGE");
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0],
            "#EXT-X-DATERANGE:ID=\"ad-1\",CLASS=\"com.tutti.ad\",START-DATE=\"2023-11-14T22:13:21.500Z\","
            "END-DATE=\"2023-11-14T22:13:51.500Z\",DURATION=30.000,X-ASSET=\"abc\",X-COM-TUTTI-ROOM=\"lobby 1\"");
}

TEST(DateRanges, RefusesMalformedRangesAndReusedIds) {
  auto p = make();
  const auto code_of = [&](DateRange r) { auto res = p.addDateRange(std::move(r)); return res.ok() ? 0 : res.error().code; };
  EXPECT_EQ(code_of(range("", 0)), code::kBadDateRange);
  EXPECT_EQ(code_of(range("a\"b", kT0)), code::kBadDateRange);
  EXPECT_EQ(code_of(withClass(range("a", kT0), "x\ny")), code::kBadDateRange);
  EXPECT_EQ(code_of(range("a", -1)), code::kBadDateRange);
  EXPECT_EQ(code_of(range("a", kT0, -1)), code::kBadDateRange);
  EXPECT_EQ(code_of(range("a", kT0, std::nullopt, kT0 - 1)), code::kBadDateRange);
  EXPECT_EQ(code_of(range("a", kT0, kS, kT0 + 2 * kS)), code::kBadDateRange);
  EXPECT_EQ(code_of(withAttributes(range("a", kT0), {{"X-lower", "v"}})), code::kBadDateRange);
  EXPECT_EQ(code_of(withAttributes(range("a", kT0), {{"ASSET", "v"}})), code::kBadDateRange);
  EXPECT_EQ(code_of(withAttributes(range("a", kT0), {{"X-A", "\""}})), code::kBadDateRange);
  EXPECT_EQ(code_of(withAttributes(range("a", kT0), {{"X-A", "1"}, {"X-A", "2"}})),
            code::kBadDateRange);
  EXPECT_TRUE(withTag(p.render(), "#EXT-X-DATERANGE").empty());
  EXPECT_EQ(code_of(range("a", kT0)), 0);
  EXPECT_EQ(code_of(range("a", kT0 + kS)), code::kDuplicateDateRange);
}

TEST(DateRanges, StaysWhileAnyOfItsDatesMapsToAListedSegment) {
  MediaPlaylistConfig c;
  c.window_segments = 4;
  auto p = make(c);
  Packager pk{p};
  pk.segments(1);
  ASSERT_TRUE(p.addDateRange(range("r", kT0 + kS, 2 * kS)).ok());  // 1 s .. 3 s
  auto has = [&] { return !withTag(p.render(), "#EXT-X-DATERANGE").empty(); };
  while (p.firstMsn() < 101) {
    EXPECT_TRUE(has());
    pk.segments(1);
  }
  EXPECT_TRUE(has());  // 101 covers 2 s .. 4 s
  pk.segments(1);
  ASSERT_EQ(p.firstMsn(), 102u);  // from 4 s on
  EXPECT_FALSE(has());
  // The ID is remembered and cannot come back.
  EXPECT_EQ(p.addDateRange(range("r", kT0 + 20 * kS)).error().code, code::kDuplicateDateRange);
}

// ---------------------------------------------------------------- dates

TEST(ProgramDateTime, FormatsUtcAsIso8601WithMillisecondsAndZ) {
  EXPECT_EQ(formatUtc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatUtc(1700000000123456), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(formatUtc(1709251199999999), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(formatUtc(946684800000500), "2000-01-01T00:00:00.000Z");
}

TEST(ProgramDateTime, IsEachSegmentsFirstCaptureTimeAndStrictlyIncreases) {
  auto p = make();
  std::vector<int64_t> captures;
  for (uint64_t k = 0; k < 8; ++k) {
    // Capture times drift against media time, as a real encoder's do.
    const int64_t capture = kT0 + static_cast<int64_t>(k) * 2 * kS + static_cast<int64_t>((k * 37) % 200) * 1000 + 123;
    captures.push_back(capture);
    ASSERT_TRUE(p.addPart(100 + k, 0.5, true, capture).ok());
    for (int i = 1; i < 4; ++i) ASSERT_TRUE(p.addPart(100 + k, 0.5, false, capture + i * 500'000).ok());
  }
  const auto pdts = withTag(p.render(), "#EXT-X-PROGRAM-DATE-TIME");
  ASSERT_EQ(pdts.size(), captures.size());  // the segment being built has one too
  for (size_t i = 0; i < pdts.size(); ++i) {
    EXPECT_EQ(valueOf(pdts[i]), formatUtc(captures[i]));
    if (i > 0) {
      EXPECT_LT(valueOf(pdts[i - 1]), valueOf(pdts[i]));  // same-width ISO strings order as times
    }
  }
}

TEST(ProgramDateTime, RefusesASegmentNotLaterThanThePreviousOne) {
  auto p = make();
  ASSERT_TRUE(p.addPart(100, 0.5, true, kT0).ok());
  for (int64_t capture : {kT0, kT0 - kS, kT0 + 400, int64_t{-5}}) {  // kT0 + 0.4 ms prints the same date
    auto r = p.addPart(101, 0.5, true, capture);
    ASSERT_FALSE(r.ok()) << capture;
    EXPECT_EQ(r.error().code, code::kBadTimestamp);
  }
  EXPECT_TRUE(p.addPart(101, 0.5, true, kT0 + 1000).ok());
}

// ---------------------------------------------------------------- gaps and discontinuities

TEST(Gaps, AGapKeepsMsnConsecutiveAndIsMarkedWithExtXGap) {
  auto p = make();
  Packager pk{p};
  pk.segments(3);              // 100, 101 complete; 102 open
  ASSERT_TRUE(pk.gap().ok());  // 102 complete; 103 a gap, 6 s .. 8 s
  pk.segments(1);              // 104 open
  const std::string text = p.render();
  EXPECT_EQ(segmentMsns(text), (std::vector<uint64_t>{100, 101, 102, 103}));
  const auto ls = lines(text);
  const auto at = std::find(ls.begin(), ls.end(), "seg-103.m4s");
  ASSERT_NE(at, ls.end());
  ASSERT_GE(at - ls.begin(), 3);
  EXPECT_EQ(*(at - 1), "#EXTINF:2.000,");
  EXPECT_EQ(*(at - 2), "#EXT-X-GAP");
  EXPECT_EQ(*(at - 3), "#EXT-X-PROGRAM-DATE-TIME:" + formatUtc(kT0 + 6 * kS));
  EXPECT_EQ(withTag(text, "#EXT-X-GAP").size(), 1u);
  for (const auto& part : partLines(text)) EXPECT_NE(part.msn, 103u);
}

TEST(Gaps, RefusesAGapWithNothingBeforeItOrLongerThanTheTarget) {
  auto p = make();
  EXPECT_EQ(p.addGap(100, 2.0).error().code, code::kOutOfOrder);
  ASSERT_TRUE(p.addPart(100, 0.5, true, kT0).ok());
  EXPECT_EQ(p.addGap(101, 2.6).error().code, code::kBadDuration);
  EXPECT_TRUE(p.addGap(101, 2.4).ok());
  EXPECT_EQ(p.lastMsn(), 101u);
  EXPECT_FALSE(p.lastPart().has_value());
}

TEST(Discontinuities, MarksTheNextSegment) {
  auto p = make();
  Packager pk{p};
  pk.segments(2);
  ASSERT_TRUE(p.markDiscontinuity().ok());
  pk.segments(2);  // 102 is the first of the new encoder
  const std::string text = p.render();
  const auto ls = lines(text);
  const auto disc = std::find(ls.begin(), ls.end(), "#EXT-X-DISCONTINUITY");
  ASSERT_NE(disc, ls.end());
  EXPECT_EQ(std::count(ls.begin(), ls.end(), "#EXT-X-DISCONTINUITY"), 1);
  // Everything after the tag up to the next URI belongs to 102.
  const auto next_uri = std::find_if(disc, ls.end(), [](auto& l) { return l.rfind("seg-", 0) == 0; });
  EXPECT_EQ(*next_uri, "seg-102.m4s");
  EXPECT_EQ(headerInt(text, "#EXT-X-DISCONTINUITY-SEQUENCE"), 0u);
  const auto dsn = segmentDsns(text);
  EXPECT_EQ(dsn.at(101), 0u);
  EXPECT_EQ(dsn.at(102), 1u);
  // Without any discontinuity the tag is left out.
  auto plain = make();
  Packager ppk{plain};
  ppk.segments(3);
  EXPECT_TRUE(withTag(plain.render(), "#EXT-X-DISCONTINUITY-SEQUENCE").empty());
}

TEST(Discontinuities, DiscontinuitySequenceAdvancesWhenADiscontinuityLeavesTheWindow) {
  MediaPlaylistConfig c;
  c.window_segments = 4;
  auto p = make(c);
  Packager pk{p};
  pk.segments(2);
  ASSERT_TRUE(p.markDiscontinuity().ok());
  pk.segments(1);  // 102 starts the second encoder
  std::map<uint64_t, uint64_t> known;
  bool seen_first = false, seen_gone = false;
  for (int i = 0; i < 10; ++i) {
    pk.segments(1);
    const std::string text = p.render();
    // The numbers of the segments still listed never change (spec 6.2.2).
    for (auto [msn, dsn] : segmentDsns(text)) {
      auto [it, fresh] = known.emplace(msn, dsn);
      EXPECT_EQ(it->second, dsn) << "msn " << msn;
    }
    const uint64_t first = headerInt(text, "#EXT-X-MEDIA-SEQUENCE");
    if (first == 102) {
      seen_first = true;
      EXPECT_EQ(headerInt(text, "#EXT-X-DISCONTINUITY-SEQUENCE"), 0u);
      EXPECT_EQ(withTag(text, "#EXT-X-DISCONTINUITY").size(), 1u);
    }
    if (first > 102) {
      seen_gone = true;
      EXPECT_EQ(headerInt(text, "#EXT-X-DISCONTINUITY-SEQUENCE"), 1u);
      EXPECT_TRUE(withTag(text, "#EXT-X-DISCONTINUITY").empty());
    }
  }
  EXPECT_TRUE(seen_first);
  EXPECT_TRUE(seen_gone);
  EXPECT_EQ(known.at(102), 1u);
  EXPECT_EQ(known.at(101), 0u);
}

TEST(Discontinuities, EachEncoderGetsItsOwnInitSegmentWhenTheTemplateHasDsn) {
  MediaPlaylistConfig c;
  c.init_uri = "init-{dsn}.mp4";
  auto p = make(c);
  Packager pk{p};
  pk.segments(2);
  ASSERT_TRUE(p.markDiscontinuity().ok());
  EXPECT_EQ(p.classifyUri("init-1.mp4"), ResourceState::kHold);
  pk.segments(2);
  const auto ls = lines(p.render());
  const auto maps = withTag(p.render(), "#EXT-X-MAP");
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[0], "#EXT-X-MAP:URI=\"init-0.mp4\"");
  const auto disc = std::find(ls.begin(), ls.end(), "#EXT-X-DISCONTINUITY");
  ASSERT_NE(disc, ls.end());
  EXPECT_EQ(*(disc + 1), "#EXT-X-MAP:URI=\"init-1.mp4\"");
  EXPECT_EQ(p.classifyUri("init-0.mp4"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("init-1.mp4"), ResourceState::kAvailable);
  EXPECT_EQ(p.classifyUri("init-2.mp4"), ResourceState::kNotFound);
}

// ---------------------------------------------------------------- rendition reports

TEST(RenditionReports, ReportsEachOtherRenditionsLastPart) {
  auto hi = make();
  auto lo = make();
  auto audio = make();
  Packager phi{hi}, plo{lo}, pau{audio};
  phi.segments(3);
  plo.segments(3);
  plo.cut();
  ASSERT_TRUE(plo.part().ok());  // lo is a part ahead
  pau.segments(2);
  ASSERT_TRUE(pau.gap().ok());  // audio's newest segment is a gap
  const std::vector<RenditionReport> reports = {lo.report("../360p/index.m3u8"), audio.report("../audio/index.m3u8"),
                                                {"bad uri\"", 1, 1}};
  const std::string text = hi.render(SkipRequest::kNone, reports);
  const auto found = withTag(text, "#EXT-X-RENDITION-REPORT");
  ASSERT_EQ(found.size(), 2u);  // the unquotable one is left out
  EXPECT_EQ(found[0], "#EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=103,LAST-PART=0");
  EXPECT_EQ(found[1], "#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\",LAST-MSN=102");
  // The values agree with what lo's own playlist shows.
  const auto lo_parts = partLines(lo.render());
  EXPECT_EQ(lo_parts.back().msn, 103u);
  EXPECT_EQ(lo_parts.back().index, 0u);
  // Reports follow the hint, at the end.
  const auto ls = lines(text);
  EXPECT_EQ(ls[ls.size() - 3].rfind("#EXT-X-PRELOAD-HINT", 0), 0u);
}

// ---------------------------------------------------------------- parts window

TEST(MediaPlaylist, ListsPartsOnlyForTheLastThreeTargetDurations) {
  auto p = make();
  Packager pk{p};
  pk.segments(12);
  pk.cut();
  ASSERT_TRUE(pk.part().ok());  // 100..111 complete (24 s), 112 open: the playlist ends at 24.5 s
  const std::string text = p.render();
  std::set<uint64_t> with_parts;
  for (const auto& part : partLines(text)) with_parts.insert(part.msn);
  // Segments starting within 6 s of the end: 110 (20 s), 111 (22 s), 112 (24 s).
  EXPECT_EQ(with_parts, (std::set<uint64_t>{110, 111, 112}));
  EXPECT_EQ(partLines(text).size(), 9u);  // whole segments: 4 + 4 + 1
  EXPECT_EQ(segmentMsns(text).size(), 12u);
}

// ---------------------------------------------------------------- multivariant

TEST(Multivariant, RendersEveryVariantAttributeWithAudioMuxedIn) {
  MultivariantPlaylist m;
  m.variants.push_back(withVideo(variant("720p/index.m3u8", 3'000'000, "avc1.64001f,mp4a.40.2"), 1280, 720, 30));
  m.variants.back().average_bandwidth_bps = 2'500'000;
  m.variants.push_back(withVideo(variant("360p/index.m3u8", 900'000, "avc1.4d401e,mp4a.40.2"), 640, 360, 29.97));
  auto text = renderMultivariant(m);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text,
            "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,CODECS=\"avc1.64001f,mp4a.40.2\","
            "RESOLUTION=1280x720,FRAME-RATE=30.000\n720p/index.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS=\"avc1.4d401e,mp4a.40.2\",RESOLUTION=640x360,"
            "FRAME-RATE=29.970\n360p/index.m3u8\n");
  EXPECT_TRUE(reparses(*text));
}

TEST(Multivariant, RendersAnAudioGroupForASeparateAudioRendition) {
  MultivariantPlaylist m;
  m.audio.push_back(audioRendition("aac", "English", "audio/index.m3u8"));
  m.audio.back().language = "en";
  m.audio.back().channels = "2";
  m.variants.push_back(withVideo(variant("720p/index.m3u8", 3'128'000, "avc1.64001f,mp4a.40.2"), 1280, 720, 30));
  m.variants.back().audio_group = "aac";
  auto text = renderMultivariant(m);
  ASSERT_TRUE(text.ok()) << text.error().message;
  const auto media = withTag(*text, "#EXT-X-MEDIA");
  ASSERT_EQ(media.size(), 1u);
  EXPECT_EQ(media[0],
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,"
            "CHANNELS=\"2\",URI=\"audio/index.m3u8\"");
  auto inf = attrs(withTag(*text, "#EXT-X-STREAM-INF")[0]);
  EXPECT_EQ(inf["AUDIO"].value, "aac");
  EXPECT_TRUE(inf["AUDIO"].quoted);
  EXPECT_EQ(inf["BANDWIDTH"].value, "3128000");
  EXPECT_TRUE(reparses(*text));
}

TEST(Multivariant, RefusesWhatAClientCouldNotUse) {
  const Variant ok = variant("v.m3u8", 1000, "avc1.4d401e");
  const auto refused = [](MultivariantPlaylist m) {
    auto r = renderMultivariant(m);
    return !r.ok() && r.error().code == code::kBadMultivariant;
  };
  EXPECT_FALSE(refused(multivariant({}, {ok})));
  EXPECT_TRUE(refused(multivariant({}, {})));
  Variant v = ok;
  v.audio_group = "aac";  // no such group
  EXPECT_TRUE(refused(multivariant({}, {v})));
  v = ok;
  v.bandwidth_bps = 0;
  EXPECT_TRUE(refused(multivariant({}, {v})));
  v = ok;
  v.average_bandwidth_bps = 2000;
  EXPECT_TRUE(refused(multivariant({}, {v})));
  v = ok;
  v.width = 640;  // no height
  EXPECT_TRUE(refused(multivariant({}, {v})));
  v = ok;
  v.codecs = "";
  EXPECT_TRUE(refused(multivariant({}, {v})));
  v = ok;
  v.uri = "a\"b";
  EXPECT_TRUE(refused(multivariant({}, {v})));
  const AudioRendition a = audioRendition("aac", "en", "a.m3u8");
  AudioRendition b = a;
  b.name = "fr";
  EXPECT_TRUE(refused(multivariant({a, b}, {ok})));  // two defaults in a group
  b.is_default = false;
  EXPECT_FALSE(refused(multivariant({a, b}, {ok})));
}

// ---------------------------------------------------------------- re-parsing

TEST(Reparse, EveryRenderedPlaylistIsKnownTagsAndUrisWithWellFormedAttributes) {
  MediaPlaylistConfig c;
  c.init_uri = "init-{dsn}.mp4";
  c.hold_back_s = 6;
  auto p = make(c);
  Packager pk{p};
  pk.segments(3);
  ASSERT_TRUE(p.addDateRange(withAttributes(withClass(range("chapter-1", kT0 + 5 * kS, std::nullopt, kT0 + 9 * kS),
                                                       "com.tutti.chapter"),
                                             {{"X-TITLE", "Intro, part 1"}}))
                  .ok());
  ASSERT_TRUE(pk.gap().ok());
  ASSERT_TRUE(p.markDiscontinuity().ok());
  pk.segments(12);
  ASSERT_TRUE(p.addDateRange(range("cue", kT0 + 30 * kS, 1500 * 1000)).ok());
  pk.cut();
  ASSERT_TRUE(pk.part(0.3).ok());
  const std::vector<RenditionReport> reports = {{"../360p/index.m3u8", 115, 0}, {"../audio/index.m3u8", 115, std::nullopt}};
  for (auto skip : {SkipRequest::kNone, SkipRequest::kYes, SkipRequest::kV2}) {
    const std::string text = p.render(skip, reports);
    EXPECT_TRUE(reparses(text)) << text;
    const double part_target = std::stod(attrs(withTag(text, "#EXT-X-PART-INF")[0])["PART-TARGET"].value);
    for (const auto& part : partLines(text)) EXPECT_LE(part.duration, part_target);
  }
  EXPECT_FALSE(withTag(p.render(SkipRequest::kV2), "#EXT-X-SKIP").empty());
  p.end();
  EXPECT_TRUE(reparses(p.render(SkipRequest::kNone, reports)));
  EXPECT_TRUE(reparses(make().render()));  // even empty
}

TEST(Reparse, TheCheckerRejectsWhatItShould) {
  // The parser above would be worthless if it passed anything.
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-FOO:1\n"));
  EXPECT_FALSE(reparses("#EXTM3U\nseg-1.m4s\n"));
  EXPECT_FALSE(reparses("#EXTM3U\n#EXTINF:2.000,\n"));
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI=part.m4s\n"));  // URI unquoted
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI=\"p\",URI=\"q\"\n"));
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI=\"p\n"));
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-PART:DURATION=0.5\n"));
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-VERSION:6\n"));
  EXPECT_FALSE(reparses("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20Z\n"));
  EXPECT_FALSE(reparses("#EXT-X-VERSION:6\n"));
  EXPECT_TRUE(reparses("#EXTM3U\n#EXT-X-PART:DURATION=0.5,URI=\"p\",INDEPENDENT=YES\n#EXTINF:0.500,\np\n"));
}

#include "tutti/media/origin.h"

#include <algorithm>
#include <deque>
#include <map>

#include "tutti/protocol/codes.h"

#include "tutti/core/base64.h"
#include "tutti/core/log.h"

namespace tutti::media {
namespace {

constexpr char kPlaylistType[] = "application/vnd.apple.mpegurl";
// Gaps filled with EXT-X-GAP segments when a publisher returns; a longer
// outage starts the rendition's playlist afresh instead.
constexpr uint64_t kMaxGapSegments = 32;
// Events waiting for the part that will hold their frame, per stream.
constexpr size_t kMaxPendingEvents = 256;
constexpr char kEventScheme[] = "urn:tutti:event:2026";


void put32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// An ISO BMFF DASHEventMessageBox, version 1 (ISO/IEC 23009-1, 5.10.3.3):
// the presentation time on the track's timescale, the event's duration and
// id, our scheme, the data.
std::string emsgBox(uint32_t timescale, uint64_t presentation_time, uint32_t duration, uint32_t id,
                    std::string_view value, std::string_view data) {
  std::string body;
  body += '\x01';                 // version 1
  body.append(3, '\0');           // flags
  put32(body, timescale);
  put32(body, static_cast<uint32_t>(presentation_time >> 32));
  put32(body, static_cast<uint32_t>(presentation_time));
  put32(body, duration);
  put32(body, id);
  body += kEventScheme;
  body += '\0';
  body.append(value);
  body += '\0';
  body.append(data);
  std::string box;
  put32(box, static_cast<uint32_t>(8 + body.size()));
  box += "emsg";
  box += body;
  return box;
}

net::HttpResponse respond(int status, std::string content_type, std::string body, std::string cache) {
  net::HttpResponse r{status, std::move(content_type), std::move(body), {}};
  r.headers.emplace_back("Cache-Control", std::move(cache));
  r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  return r;
}

net::HttpResponse plain(int status, std::string text) { return respond(status, "text/plain", std::move(text) + "\n", "no-store"); }

const char* kindOf(std::string_view path) {
  const auto slash = path.rfind('/');
  const std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (file.ends_with(".m3u8")) return "playlist";
  if (file.starts_with("part-")) return "part";
  if (file.starts_with("seg-")) return "segment";
  if (file.starts_with("init")) return "init";
  return "other";
}

}  // namespace

// One stream: its renditions, their bytes and the requests waiting on them.
class Origin::Stream final : public PackageSink {
 public:
  class PartReader;

  Stream(std::string name, Origin& origin) : name_(std::move(name)), o_(origin) {}

  const std::string& name() const { return name_; }

  // ---- PackageSink (the ingest's thread)
  void onTrack(const TrackInfo& track, std::string init) override {
    std::lock_guard lock(mu_);
    if (track.index < renditions_.size() && renditions_[track.index].playlist) {
      // A new publish: a new encoder, so a new init segment after a discontinuity.
      auto& r = renditions_[track.index];
      r.info = track;
      r.pending_init = std::make_shared<const std::string>(std::move(init));
      r.needs_discontinuity = true;
      return;
    }
    if (track.index >= renditions_.size()) renditions_.resize(track.index + 1);
    auto& r = renditions_[track.index];
    r.info = track;
    auto pl = hls::MediaPlaylist::create(o_.config_.playlist);
    if (!pl) {
      log::error("media: playlist config refused", {{"error", pl.error().message}});
      return;
    }
    r.playlist.emplace(std::move(*pl));
    r.inits[0] = std::make_shared<const std::string>(std::move(init));
  }

  // A piece of the part being written: kept until the part completes, and
  // passed on at once to the readers streaming that part.
  void onChunk(size_t track, const Chunk& c) override {
    std::vector<Piece> pieces;
    std::vector<Reply> out;
    {
      std::lock_guard lock(mu_);
      if (track >= renditions_.size() || !renditions_[track].playlist) return;
      auto& r = renditions_[track];
      if (c.first || !r.building.active || r.building.msn != c.msn || r.building.index != c.index) {
        r.building = Building{true, c.msn, c.index, {}};
        // Events go in front of the part's first chunk: those whose frame
        // falls in the part as the grid predicts it.
        Part head;
        head.first_capture_us = c.first_capture_us;
        head.duration_us = o_.config_.pipeline.part_us;
        head.media_time_us = c.media_time_us;
        placeEvents(r, head);
        r.building.bytes = std::move(head.bytes);
      }
      r.building.bytes += c.bytes;
      feedReaders(r, pieces);
      release(out, o_.clock_.monoUs());  // held requests for this part start streaming
    }
    send(std::move(out));
    deliver(std::move(pieces));
  }

  void onPart(size_t track, Part part) override {
    std::vector<Reply> out;
    std::vector<Piece> pieces;
    {
      std::lock_guard lock(mu_);
      if (track >= renditions_.size() || !renditions_[track].playlist) return;
      auto& r = renditions_[track];
      // Streamed in chunks: the stored part is what was streamed (events included).
      const bool chunked = r.building.active && r.building.msn == part.msn && r.building.index == part.index;
      if (chunked) part.bytes = std::move(r.building.bytes);
      r.building = Building{};
      auto& pl = *r.playlist;
      if ((r.needs_discontinuity || part.discontinuity) && !pl.empty()) {
        (void)pl.markDiscontinuity();
        ++r.dsn;
        r.inits[r.dsn] = r.pending_init ? r.pending_init : r.inits.rbegin()->second;
      } else if (r.pending_init && pl.empty()) {
        r.inits[r.dsn] = r.pending_init;
      }
      r.needs_discontinuity = false;
      r.pending_init.reset();
      if (part.index == 0 && !pl.empty() && part.msn > pl.lastMsn() + 1) {
        const uint64_t missing = part.msn - pl.lastMsn() - 1;
        if (missing <= kMaxGapSegments) {
          for (uint64_t m = pl.lastMsn() + 1; m < part.msn; ++m) (void)pl.addGap(m, pl.config().target_duration_s);
        } else {
          log::warn("media: long outage, playlist restarted", {{"stream", name_}, {"rendition", r.info.name}});
          restart(r);
        }
      }
      auto added = r.playlist->addPart(part.msn, static_cast<double>(part.duration_us) / 1e6, part.independent,
                                       part.first_capture_us);
      if (!added) {
        o_.parts_refused_->inc();
        log::warn("media: part refused", {{"stream", name_}, {"rendition", r.info.name}, {"msn", std::to_string(part.msn)},
                                          {"error", added.error().message}});
        finishReaders(r, part.msn, part.index, nullptr, pieces);
      } else {
        o_.parts_->inc();
        newest_capture_us_ = std::max(newest_capture_us_, part.first_capture_us + part.duration_us);
        if (!chunked) placeEvents(r, part);
        r.bytes += part.bytes.size();
        auto stored = std::make_shared<const std::string>(std::move(part.bytes));
        r.parts[part.msn].push_back(stored);
        finishReaders(r, part.msn, part.index, stored, pieces);
        evict(r);
        release(out, o_.clock_.monoUs());
      }
    }
    send(std::move(out));
    deliver(std::move(pieces));
  }

  StreamInfo info() const {
    std::lock_guard lock(mu_);
    StreamInfo out;
    out.name = name_;
    for (const auto& r : renditions_) {
      if (!r.playlist) continue;
      out.renditions.push_back(r.info);
      if (!r.playlist->empty() && r.info.kind == TrackKind::kVideo && !out.last_msn) out.last_msn = r.playlist->lastMsn();
    }
    if (newest_capture_us_ > 0) out.newest_capture_us = newest_capture_us_;
    return out;
  }

  Result<void> addEvent(const MediaEvent& e) {
    std::lock_guard lock(mu_);
    hls::DateRange dr;
    dr.id = e.id;
    dr.class_name = e.class_name;
    dr.start_utc_us = e.media_ts_us;
    dr.duration_us = e.duration_us;
    if (!e.data.empty()) dr.client_attributes.emplace_back("X-TUTTI-DATA", base64(e.data));
    bool any = false;
    for (auto& r : renditions_) {
      if (!r.playlist) continue;
      if (auto added = r.playlist->addDateRange(dr); !added) return added.error();
      any = true;
    }
    if (!any) return makeError(code::kInvalidParams, "stream " + name_ + " has no renditions yet");
    if (pending_.size() >= kMaxPendingEvents) pending_.pop_front();
    pending_.push_back(Pending{e, next_event_id_++, {}});
    return {};
  }

  // The publisher is gone: the playlists stay open (no ENDLIST), so the next
  // publish continues them after a discontinuity.
  void onEnd() override {}

  // ---- HTTP (a worker)
  void handle(std::string_view rest, const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
    std::vector<Reply> out;
    {
      std::lock_guard lock(mu_);
      const int64_t now = o_.clock_.monoUs();
      if (rest == "master.m3u8") {
        out.push_back({worker, std::move(reply), multivariant()});
      } else {
        const auto slash = rest.find('/');
        Rendition* r = slash == std::string_view::npos ? nullptr : byName(rest.substr(0, slash));
        if (!r) {
          out.push_back({worker, std::move(reply), plain(404, "no such rendition")});
        } else {
          Waiter w;
          w.rendition = static_cast<size_t>(r - renditions_.data());
          w.file = std::string(rest.substr(slash + 1));
          w.arrived_us = now;
          w.worker = worker;
          w.reply = std::move(reply);
          if (w.file == "index.m3u8") {
            auto q = hls::parsePlaylistQuery(req.query);
            if (!q) {
              out.push_back({worker, std::move(w.reply), plain(400, q.error().message)});
            } else {
              w.playlist = true;
              w.query = *q;
              w.deadline_us = now + r->playlist->blockingTimeoutUs();
              admit(std::move(w), out, now);
            }
          } else {
            w.deadline_us = now + r->playlist->blockingTimeoutUs();
            admit(std::move(w), out, now);
          }
        }
      }
    }
    send(std::move(out));
  }

  // Answers the waiters whose time is up (503).
  void expire(int64_t now) {
    std::vector<Reply> out;
    {
      std::lock_guard lock(mu_);
      release(out, now);
    }
    send(std::move(out));
  }



 private:
  struct Building {
    bool active = false;
    uint64_t msn = 0;
    uint32_t index = 0;
    std::string bytes;  // events and chunks so far
  };
  struct Rendition {
    TrackInfo info;
    Building building;  // the part being written
    std::vector<std::shared_ptr<PartReader>> readers;  // responses streaming it
    std::optional<hls::MediaPlaylist> playlist;
    std::map<uint64_t, std::shared_ptr<const std::string>> inits;  // by discontinuity sequence
    uint64_t dsn = 0;
    std::shared_ptr<const std::string> pending_init;  // of a new publish, until its first part
    bool needs_discontinuity = false;
    std::map<uint64_t, std::vector<std::shared_ptr<const std::string>>> parts;  // by msn
    size_t bytes = 0;
  };
  struct Waiter {
    size_t rendition = 0;
    std::string file;
    bool playlist = false;
    hls::PlaylistQuery query;
    int64_t arrived_us = 0;
    int64_t deadline_us = 0;
    size_t worker = 0;
    net::HttpReply reply;
  };
  struct Reply {
    size_t worker;
    net::HttpReply reply;
    net::HttpResponse response;
  };

  Rendition* byName(std::string_view name) {
    for (auto& r : renditions_)
      if (r.playlist && r.info.name == name) return &r;
    return nullptr;
  }

  void restart(Rendition& r) {
    auto pl = hls::MediaPlaylist::create(o_.config_.playlist);
    if (pl) r.playlist.emplace(std::move(*pl));
    r.parts.clear();
    r.bytes = 0;
    auto init = r.inits.rbegin()->second;
    r.inits.clear();
    r.dsn = 0;
    r.inits[0] = init;
  }

  // Puts an emsg at the front of the part for each event whose frame it
  // holds; forgets events every rendition has placed or passed.
  void placeEvents(Rendition& r, Part& part) {
    const auto track = static_cast<size_t>(&r - renditions_.data());
    const uint32_t timescale = r.info.kind == TrackKind::kAudio ? 48'000 : 90'000;
    std::string boxes;
    for (auto& ev : pending_) {
      if (ev.done.size() < renditions_.size()) ev.done.resize(renditions_.size(), false);
      if (ev.done[track]) continue;
      const int64_t at = ev.event.media_ts_us;
      if (at >= part.first_capture_us + part.duration_us) continue;  // a later part
      ev.done[track] = true;
      if (at < part.first_capture_us) continue;  // its part was packaged already
      const int64_t media_us = part.media_time_us + (at - part.first_capture_us);
      const auto pt = static_cast<uint64_t>(media_us) * timescale / 1'000'000;
      const auto dur = static_cast<uint32_t>(ev.event.duration_us.value_or(0) * timescale / 1'000'000);
      boxes += emsgBox(timescale, pt, dur, ev.number, ev.event.id, ev.event.data);
      o_.events_placed_->inc();
    }
    if (!boxes.empty()) part.bytes.insert(0, boxes);
    while (!pending_.empty() && pending_.front().done.size() == renditions_.size() &&
           std::all_of(pending_.front().done.begin(), pending_.front().done.end(), [](bool d) { return d; }))
      pending_.pop_front();
  }

  // Drops what left the window. A part stays servable a little after its tag
  // leaves the playlist (players that loaded the previous version fetch it).
  void evict(Rendition& r) {
    const uint64_t first = r.playlist->firstMsn();
    const uint64_t keep_from = first >= 2 ? first - 2 : 0;
    while (!r.parts.empty() && r.parts.begin()->first < keep_from) {
      for (const auto& p : r.parts.begin()->second) r.bytes -= p->size();
      r.parts.erase(r.parts.begin());
    }
    while (r.inits.size() > 1 && r.inits.size() > r.dsn + 1) r.inits.erase(r.inits.begin());
  }

  // Answers at once or holds the request.
  void admit(Waiter w, std::vector<Reply>& out, int64_t now) {
    if (auto resp = answer(w, now)) {
      out.push_back({w.worker, std::move(w.reply), std::move(*resp)});
      return;
    }
    if (o_.waiting_->value() >= static_cast<int64_t>(o_.config_.max_waiters)) {
      out.push_back({w.worker, std::move(w.reply), plain(503, "too many blocked requests")});
      return;
    }
    o_.waiting_->add(1);
    waiters_.push_back(std::move(w));
  }

  // The answer to a waiter now, or nothing (keep waiting).
  std::optional<net::HttpResponse> answer(const Waiter& w, int64_t now) {
    const Rendition& r = renditions_[w.rendition];
    const auto& pl = *r.playlist;
    if (w.playlist) {
      if (pl.empty() && now < w.deadline_us) return std::nullopt;
      if (pl.empty()) return plain(503, "no media yet");
      const auto d = pl.decide(w.query, w.arrived_us, now);
      switch (d.verdict) {
        case hls::Verdict::kWait:
          return std::nullopt;
        case hls::Verdict::kBadRequest:
          return plain(400, d.reason);
        case hls::Verdict::kServiceUnavailable:
          return plain(503, d.reason);
        case hls::Verdict::kReady:
          break;
      }
      std::vector<hls::RenditionReport> reports;
      for (const auto& other : renditions_)
        if (&other != &r && other.playlist && !other.playlist->empty())
          reports.push_back(other.playlist->report("../" + other.info.name + "/index.m3u8"));
      // A blocking answer names one version of the playlist: cacheable for a
      // while. A plain reload must stay fresh. Both may stand in for a while
      // when this origin is down (an edge's stale-if-error, RFC 5861).
      const std::string cache =
          w.query.msn ? "public, max-age=60, stale-if-error=60" : "public, max-age=1, stale-if-error=60";
      return respond(200, kPlaylistType, pl.render(w.query.skip, reports), cache);
    }
    switch (pl.classifyUri(w.file)) {
      case hls::ResourceState::kNotFound:
        return plain(404, "not in the window");
      case hls::ResourceState::kHold: {
        // The part being written: send what there is and the rest as it comes.
        auto m = o_.part_uri_->match(w.file);
        if (m && r.building.active && r.building.msn == m->msn && r.building.index == m->part) {
          auto reader = std::make_shared<PartReader>(*this, w.rendition, m->msn, static_cast<uint32_t>(m->part), w.worker);
          renditions_[w.rendition].readers.push_back(reader);
          o_.streamed_->inc();
          net::HttpResponse resp = respond(200, r.info.kind == TrackKind::kAudio ? "audio/mp4" : "video/mp4", "",
                                           "public, max-age=31536000, immutable");
          resp.stream = reader;
          return resp;
        }
        if (now >= w.deadline_us) return plain(503, "not produced in time");
        return std::nullopt;
      }
      case hls::ResourceState::kAvailable:
        break;
    }
    auto pieces = media(r, w.file);
    if (pieces.empty()) return plain(404, "not in the window");
    const char* type = r.info.kind == TrackKind::kAudio ? "audio/mp4" : "video/mp4";
    auto resp = respond(200, type, "", "public, max-age=31536000, immutable");
    resp.pieces = std::move(pieces);  // the stored bytes themselves: no copy under the lock
    return resp;
  }

  // The stored bytes of a part, a segment (its parts) or an init segment;
  // empty when not in the window.
  std::vector<std::shared_ptr<const std::string>> media(const Rendition& r, const std::string& file) const {
    if (auto m = o_.part_uri_->match(file)) {
      auto it = r.parts.find(m->msn);
      if (it == r.parts.end() || m->part >= it->second.size()) return {};
      return {it->second[m->part]};
    }
    if (auto m = o_.segment_uri_->match(file)) {
      auto it = r.parts.find(m->msn);
      if (it == r.parts.end()) return {};
      return it->second;
    }
    if (auto m = o_.init_uri_->match(file)) {
      auto it = r.inits.find(m->dsn);
      if (it == r.inits.end()) return {};
      return {it->second};
    }
    return {};
  }

  net::HttpResponse multivariant() const {
    // Listed once every rendition has a complete segment: players (hls.js)
    // treat a media playlist with parts only as empty and may give up.
    for (const auto& r : renditions_)
      if (r.playlist && r.playlist->lastMsn() <= r.playlist->firstMsn()) return plain(404, "no complete segment yet");
    hls::MultivariantPlaylist mv;
    const Rendition* audio = nullptr;
    for (const auto& r : renditions_)
      if (r.playlist && r.info.kind == TrackKind::kAudio) audio = &r;
    if (audio) mv.audio.push_back({"aac", "audio", "", "2", "audio/index.m3u8", true, true});
    for (const auto& r : renditions_) {
      if (!r.playlist || r.info.kind != TrackKind::kVideo) continue;
      hls::Variant v;
      v.uri = r.info.name + "/index.m3u8";
      v.bandwidth_bps = static_cast<uint64_t>(r.info.bandwidth_bps + (audio ? audio->info.bandwidth_bps : 0));
      v.codecs = r.info.codecs + (audio ? "," + audio->info.codecs : "");
      v.width = r.info.width;
      v.height = r.info.height;
      v.frame_rate = r.info.frame_rate;
      if (audio) v.audio_group = "aac";
      mv.variants.push_back(std::move(v));
    }
    if (mv.variants.empty() && audio) {
      hls::Variant v;
      v.uri = "audio/index.m3u8";
      v.bandwidth_bps = static_cast<uint64_t>(audio->info.bandwidth_bps);
      v.codecs = audio->info.codecs;
      mv.audio.clear();
      mv.variants.push_back(std::move(v));
    }
    if (mv.variants.empty()) return plain(404, "no media yet");
    auto text = hls::renderMultivariant(mv);
    if (!text) return plain(500, text.error().message);
    return respond(200, kPlaylistType, std::move(*text), "public, max-age=2, stale-if-error=60");
  }

  // Answers every waiter that can be answered now.
  void release(std::vector<Reply>& out, int64_t now) {
    size_t kept = 0;
    for (size_t i = 0; i < waiters_.size(); ++i) {
      Waiter& w = waiters_[i];
      if (auto resp = answer(w, now)) {
        o_.waiting_->add(-1);
        out.push_back({w.worker, std::move(w.reply), std::move(*resp)});
      } else {
        if (kept != i) waiters_[kept] = std::move(w);  // never onto itself: a self-move empties strings
        ++kept;
      }
    }
    waiters_.resize(kept);
  }

  // Outside the lock: replies run on their workers.
  void send(std::vector<Reply> out) {
    for (auto& r : out) {
      o_.registry_.counter("tutti_hls_responses_total", "HLS responses by status", {{"status", std::to_string(r.response.status)}}).inc();
      o_.post_(r.worker, [reply = std::move(r.reply), resp = std::move(r.response)]() mutable { reply(std::move(resp)); });
    }
  }

  // ---- streaming the part being written (chunked transfer)
 public:
  // One response streaming one part. The HTTP session holds it; the stream
  // keeps it in its rendition's readers until the part is complete.
  class PartReader final : public net::BodyStream {
   public:
    PartReader(Stream& s, size_t rendition, uint64_t msn, uint32_t index, size_t worker)
        : s_(s), rendition(rendition), msn(msn), index(index), worker(worker) {}
    void next(Sink sink) override { s_.pull(*this, std::move(sink)); }

    Stream& s_;
    const size_t rendition;
    const uint64_t msn;
    const uint32_t index;
    const size_t worker;
    size_t sent = 0;        // bytes of the part handed out so far
    Sink pending;           // asked for more before there was any
    bool finished = false;  // the last piece is handed out
  };

 private:
  struct Piece {
    size_t worker;
    net::BodyStream::Sink sink;
    std::string bytes;
    bool last;
  };

  // On the worker: what is there beyond what was sent, or wait for it.
  void pull(PartReader& reader, net::BodyStream::Sink sink) {
    std::vector<Piece> pieces;
    {
      std::lock_guard lock(mu_);
      reader.pending = std::move(sink);
      auto& r = renditions_[reader.rendition];
      if (!reader.finished && r.building.active && r.building.msn == reader.msn && r.building.index == reader.index) {
        take(reader, r.building.bytes, false, pieces);
      } else if (!reader.finished) {
        // Complete (or gone) since: the rest from the stored part.
        std::shared_ptr<const std::string> stored;
        auto it = r.parts.find(reader.msn);
        if (it != r.parts.end() && reader.index < it->second.size()) stored = it->second[reader.index];
        take(reader, stored ? *stored : std::string(), true, pieces);
      }
    }
    for (auto& p : pieces) p.sink(std::move(p.bytes), p.last);  // already on the reader's worker
  }

  // Hands `reader` the bytes of `all` it has not had, if it is waiting and
  // there are any (or this is the end).
  void take(PartReader& reader, const std::string& all, bool last, std::vector<Piece>& pieces) {
    if (!reader.pending) return;
    if (!last && all.size() <= reader.sent) return;  // nothing new: keep waiting
    std::string bytes = all.size() > reader.sent ? all.substr(reader.sent) : std::string();
    reader.sent = std::max(reader.sent, all.size());
    reader.finished = last;
    pieces.push_back({reader.worker, std::move(reader.pending), std::move(bytes), last});
    reader.pending = nullptr;
  }

  void feedReaders(Rendition& r, std::vector<Piece>& pieces) {
    for (auto& reader : r.readers)
      if (reader->msn == r.building.msn && reader->index == r.building.index) take(*reader, r.building.bytes, false, pieces);
  }

  // The part is complete (stored) or refused (null): every reader of it gets
  // the rest and the end, now or at its next pull.
  void finishReaders(Rendition& r, uint64_t msn, uint32_t index, const std::shared_ptr<const std::string>& stored,
                     std::vector<Piece>& pieces) {
    size_t kept = 0;
    for (size_t i = 0; i < r.readers.size(); ++i) {
      auto& reader = r.readers[i];
      if (reader->msn == msn && reader->index == index) {
        take(*reader, stored ? *stored : std::string(), true, pieces);
        continue;  // a pull after this finds the stored part
      }
      if (kept != i) r.readers[kept] = std::move(reader);
      ++kept;
    }
    r.readers.resize(kept);
  }

  // Outside the lock: each piece runs on its reader's worker.
  void deliver(std::vector<Piece> pieces) {
    for (auto& p : pieces)
      o_.post_(p.worker, [sink = std::move(p.sink), bytes = std::move(p.bytes), last = p.last]() mutable {
        sink(std::move(bytes), last);
      });
  }

  std::string name_;
  Origin& o_;
  mutable std::mutex mu_;
  std::vector<Rendition> renditions_;  // by track index
  int64_t newest_capture_us_ = 0;  // end of the newest packaged part (any rendition)
  std::vector<Waiter> waiters_;
  struct Pending {
    MediaEvent event;
    uint32_t number;          // emsg id
    std::vector<bool> done;   // per rendition: placed, or its part had passed
  };
  std::deque<Pending> pending_;
  uint32_t next_event_id_ = 1;
};

Origin::Origin(OriginConfig config, const Clock& clock, PostToWorker post, metrics::Registry& registry)
    : config_(std::move(config)), clock_(clock), post_(std::move(post)), registry_(registry) {
  parts_ = &registry_.counter("tutti_media_parts_total", "CMAF parts packaged, all renditions");
  parts_refused_ = &registry_.counter("tutti_media_parts_refused_total", "Parts the playlist refused (logged)");
  events_placed_ = &registry_.counter("tutti_media_events_placed_total", "emsg boxes put into parts (per rendition)");
  streamed_ = &registry_.counter("tutti_hls_streamed_parts_total", "Part responses sent with chunked transfer while being written");
  waiting_ = &registry_.gauge("tutti_hls_blocked_requests", "Playlist and part requests held until their media exists");
  auto part = hls::UriTemplate::parse(config_.playlist.part_uri);
  auto seg = hls::UriTemplate::parse(config_.playlist.segment_uri);
  auto init = hls::UriTemplate::parse(config_.playlist.init_uri);
  if (part) part_uri_.emplace(std::move(*part));
  if (seg) segment_uri_.emplace(std::move(*seg));
  if (init) init_uri_.emplace(std::move(*init));
  expirer_ = std::thread([this] { expireLoop(); });
}

Origin::~Origin() {
  {
    std::lock_guard l(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (expirer_.joinable()) expirer_.join();
}

void Origin::expireLoop() {
  std::unique_lock l(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(l, std::chrono::milliseconds(50));
    if (stopping_) break;
    l.unlock();
    std::vector<Stream*> all;
    {
      std::lock_guard g(mu_);
      for (auto& s : streams_) all.push_back(s.get());
    }
    const int64_t now = clock_.monoUs();
    for (auto* s : all) s->expire(now);
    l.lock();
  }
}

PackageSink& Origin::sinkFor(const std::string& stream) {
  std::lock_guard g(mu_);
  for (auto& s : streams_)
    if (s->name() == stream) return *s;
  streams_.push_back(std::make_unique<Stream>(stream, *this));
  return *streams_.back();
}

Origin::Stream* Origin::find(const std::string& name) const {
  std::lock_guard g(mu_);
  for (const auto& s : streams_)
    if (s->name() == name) return s.get();
  return nullptr;
}

void Origin::handle(const net::HttpRequest& req, size_t worker, net::HttpReply reply) {
  std::string_view path = req.path;
  path.remove_prefix(5);  // "/hls/"
  registry_.counter("tutti_hls_requests_total", "HLS requests by kind", {{"kind", kindOf(path)}}).inc();
  if (req.method != "GET") return reply(plain(405, "use GET"));
  const auto slash = path.find('/');
  if (slash == std::string_view::npos || !part_uri_ || !segment_uri_ || !init_uri_) return reply(plain(404, "no such stream"));
  Stream* s = find(std::string(path.substr(0, slash)));
  if (!s) return reply(plain(404, "no such stream"));
  s->handle(path.substr(slash + 1), req, worker, std::move(reply));
}

std::vector<StreamInfo> Origin::streams() const {
  std::vector<Stream*> all;
  {
    std::lock_guard g(mu_);
    for (const auto& s : streams_) all.push_back(s.get());
  }
  std::vector<StreamInfo> out;
  for (Stream* s : all) out.push_back(s->info());
  return out;
}

Result<void> Origin::addEvent(const std::string& stream, const MediaEvent& event) {
  Stream* s = find(stream);
  if (!s) return makeError(code::kInvalidParams, "no such stream: " + stream);
  return s->addEvent(event);
}


}  // namespace tutti::media

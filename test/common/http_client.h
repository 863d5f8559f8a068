#pragma once
// A minimal blocking HTTP/1.1 client for tests (one connection per request,
// 127.0.0.1 only), and a reader of the Prometheus text at /metrics.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tutti::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;        // 0 if the request failed (see error)
  std::string body;
  std::string content_type;
  std::string error;     // transport error, empty on success
  Headers headers;       // names lower-cased
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

HttpResponse httpRequest(uint16_t port, std::string_view method, std::string_view target,
                         std::string_view body = {}, const Headers& headers = {},
                         int64_t timeout_ms = 5000);
HttpResponse httpGet(uint16_t port, std::string_view target, const Headers& headers = {},
                     int64_t timeout_ms = 5000);
// Content-Type defaults to application/json unless `headers` sets one.
HttpResponse httpPost(uint16_t port, std::string_view target, std::string_view body,
                      const Headers& headers = {}, int64_t timeout_ms = 5000);

// The value of one series in Prometheus text, e.g.
// series = "tutti_auth_failures_total{reason=\"expired\"}" (exactly as the
// server prints it, labels in its order) or a bare name without labels.
std::optional<double> parseMetric(std::string_view metrics_text, std::string_view series);
// GET /metrics and parseMetric; nullopt if absent or unreachable.
std::optional<double> metricValue(uint16_t port, std::string_view series);

}  // namespace tutti::test

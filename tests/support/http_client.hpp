// A blocking HTTP/1.1 client for tests: keep-alive, and streamed bodies observed piece by piece
// with the time each piece arrived.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace infergate::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  // For streamed reads: when each piece of the body arrived, relative to the request being sent.
  std::vector<std::pair<std::chrono::duration<double>, std::string>> pieces;
  bool complete = true;  // false when the server closed before the end of the body
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  HttpClient(std::string host, unsigned short port);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const std::string& target);
  HttpResponse get(const std::string& target, const std::map<std::string, std::string>& headers);
  HttpResponse post(const std::string& target, const std::string& body,
                    const std::map<std::string, std::string>& headers = {});
  // Reads the body as it arrives. `on_piece` may return false to close the connection early.
  HttpResponse post_streaming(const std::string& target, const std::string& body,
                              const std::function<bool(const std::string&)>& on_piece = {},
                              const std::map<std::string, std::string>& headers = {});
  // Sends a request without reading the answer (to test what a server does when the client
  // goes away while it works).
  void send_only(const std::string& target, const std::string& body);
  // Reads the response to a request sent with send_only().
  HttpResponse read_response();
  // Closes the connection (the next request reconnects).
  void close();
  // Number of TCP connections opened so far.
  int connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Text after "data: " of each SSE event in a body.
std::vector<std::string> sse_payloads(const std::string& body);

}  // namespace infergate::testing

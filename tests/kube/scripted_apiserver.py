#!/usr/bin/env python3
"""A scripted HTTPS server for kube_transport_test: not an API server, only what the transport
must handle. Prints READY {"port": N}, then answers:
  GET /list    -> 200, a JSON list, Content-Length framed (checks the bearer token: else 401)
  GET /watch   -> 200, chunked: three event lines, one split across chunks, then the end
  GET /silent  -> 200, chunked, then nothing more (the client's idle bound must end it)
  GET /denied  -> 403 with a Status body
Usage: scripted_apiserver.py CERT KEY TOKEN
"""
import http.server
import json
import ssl
import sys
import time

CERT, KEY, TOKEN = sys.argv[1:4]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            body = b'{"kind":"Status","code":401,"message":"Unauthorized"}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = self.path.split("?")[0]
        if path == "/list":
            body = json.dumps({"metadata": {"resourceVersion": "7"},
                               "items": [{"metadata": {"namespace": "a", "name": "x"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path in ("/watch", "/silent"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if path == "/silent":
                self.chunk(b'{"type":"BOOKMARK"}\n')
                time.sleep(30)  # the client gives up long before
                return
            events = b'{"type":"ADDED","n":1}\n{"type":"MODIFIED","n":2}\n{"type":"DELETED","n":3}\n'
            self.chunk(events[:30])
            self.chunk(events[30:])
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/denied":
            body = b'{"kind":"Status","code":403,"message":"pods is forbidden"}'
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print('READY {"port": %d}' % server.server_address[1], flush=True)
server.serve_forever()

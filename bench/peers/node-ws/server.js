'use strict';
// Node.js 20 + ws 8 room broadcast server: the peer that a team would write
// with the most used WebSocket library, measured beside Tutti and nats-server
// (bench/peers/README.md).
//
//   node server.js PORT        (PORT 0 picks a free port)
//
// Protocol: a client connects to ws://127.0.0.1:PORT/?room=NAME (no room, or
// an empty one, means "default"). Each text message it sends goes out
// verbatim, as one text message, to every other client in the same room at
// that moment; the sender does not get it back. Binary messages are ignored.
//
// It follows the broadcast example of ws's README, with a Map of rooms:
// one ws.send per recipient, no compression, no per-message logging, and no
// per-connection queue limit (ws buffers without bound, as that example
// does). One thread, like any Node server.
//
// Prints "listening PORT" on stdout once it accepts connections; SIGTERM or
// SIGINT closes every client with 1001 (going away) and exits 0.

const { WebSocketServer, WebSocket } = require('ws');

const arg = process.argv[2] ?? '8080';
const port = Number(arg);
if (!/^\d+$/.test(arg) || port > 65535) {
  console.error(`usage: node server.js PORT (got ${JSON.stringify(arg)})`);
  process.exit(2);
}

// Room name -> the sockets in it. A room is removed with its last member.
const rooms = new Map();

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  // Off, as in Tutti and nats-server: deflating 100-byte messages costs CPU
  // for nothing, and ws's deflate runs on a small thread pool.
  perMessageDeflate: false,
});

wss.on('connection', (ws, req) => {
  const name = new URL(req.url, 'http://localhost').searchParams.get('room') || 'default';
  let room = rooms.get(name);
  if (room === undefined) {
    room = new Set();
    rooms.set(name, room);
  }
  room.add(ws);

  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    for (const peer of room) {
      if (peer !== ws && peer.readyState === WebSocket.OPEN) {
        peer.send(data, { binary: false });
      }
    }
  });

  ws.on('close', () => {
    room.delete(ws);
    if (room.size === 0 && rooms.get(name) === room) rooms.delete(name);
  });

  // A socket error is followed by 'close'; without a listener it would throw.
  ws.on('error', () => {});
});

wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});

wss.on('error', (err) => {
  console.error(`node-ws: ${err.message}`);
  process.exit(1);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  // Stop accepting (this closes the listening socket that ws made); ws 8
  // leaves open sockets alone, so close them ourselves. The process exits by
  // itself, with 0, once the last socket is gone.
  wss.close();
  for (const ws of wss.clients) ws.close(1001, 'server shutting down');
  // Clients that do not answer the close frame in time are cut.
  setTimeout(() => {
    for (const ws of wss.clients) ws.terminate();
  }, 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

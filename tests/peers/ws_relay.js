// A chat relay in Node `ws` (not written by stampede): rooms from `?room=R` (default "default"),
// every message (text or binary) relayed as-is to every member of the room, the sender included
// unless --no-echo-self. Started by scripts/peers-node.sh (which installs ws@8 in a cache dir):
//
//   scripts/peers-node.sh node tests/peers/ws_relay.js --port 0 --stats FILE
//     [--ping-interval S --ping-timeout S] [--no-echo-self] [--drop-every N] [--json]
//
// --json: JSON group chat instead of the raw relay, the protocol of tests/peers/chat_server.py
// (join/joined, message -> envelope with from and ts, error for non-members and bad frames).
// --ping-interval: ws has no keepalive of its own; like ws's README, the server pings every
// interval and terminates a member whose pong has not come by --ping-timeout, after a close
// 1011 "keepalive ping timeout". --drop-every N drops every N-th delivery (server-wide count).
//
// JSON lines on stdout and in --stats: {"event":"listening","port":N} first, one
// {"event":"session",...} per closed connection (frames_rcvd, relayed, deliveries, dropped,
// errors_sent, pings_sent, pongs_rcvd, close_rcvd, close_sent), {"event":"summary"} on SIGTERM.
'use strict';
const fs = require('fs');
const http = require('http');
const { WebSocketServer } = require('ws');

const args = { port: 0, host: '127.0.0.1', stats: null, pingInterval: 0, pingTimeout: 20, echoSelf: true, dropEvery: 0, json: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    if (i + 1 >= argv.length) { console.error(`ws_relay.js: ${a} needs a value`); process.exit(2); }
    return argv[++i];
  };
  if (a === '--port') args.port = Number(val());
  else if (a === '--host') args.host = val();
  else if (a === '--stats') args.stats = val();
  else if (a === '--ping-interval') args.pingInterval = Number(val());
  else if (a === '--ping-timeout') args.pingTimeout = Number(val());
  else if (a === '--no-echo-self') args.echoSelf = false;
  else if (a === '--drop-every') args.dropEvery = Number(val());
  else if (a === '--json') args.json = true;
  else { console.error(`ws_relay.js: unknown argument ${a}`); process.exit(2); }
}

function emit(obj) {
  const line = JSON.stringify(obj);
  process.stdout.write(line + '\n');
  if (args.stats) fs.appendFileSync(args.stats, line + '\n');
}

const rooms = new Map(); // room or group id -> Set of members
const total = { sessions: 0, frames_rcvd: 0, relayed: 0, deliveries: 0, dropped: 0, errors_sent: 0, pings_sent: 0, pongs_rcvd: 0 };
let seen = 0; // deliveries tried, for --drop-every

function deliver(m, data, binary) {
  seen++;
  if (args.dropEvery && seen % args.dropEvery === 0) { m.c.dropped++; return; }
  m.c.deliveries++;
  m.ws.send(data, { binary });
}

function join(m, room) {
  if (!rooms.has(room)) rooms.set(room, new Set());
  rooms.get(room).add(m);
  m.rooms.add(room);
  return rooms.get(room).size;
}

function leave(m, room) {
  const s = rooms.get(room);
  if (s) { s.delete(m); if (s.size === 0) rooms.delete(room); }
  m.rooms.delete(room);
}

function sendError(m, detail) {
  m.c.errors_sent++;
  m.ws.send(JSON.stringify({ type: 'error', detail }));
}

function onJson(m, data, isBinary) {
  let msg;
  try {
    if (isBinary) throw new Error('binary');
    msg = JSON.parse(data.toString('utf8'));
    if (typeof msg !== 'object' || msg === null || typeof msg.type !== 'string') throw new Error('shape');
  } catch (e) {
    return sendError(m, 'not a JSON chat frame');
  }
  const gid = String(msg.group_id);
  if (msg.type === 'join') {
    const k = join(m, gid);
    m.ws.send(JSON.stringify({ type: 'joined', group_id: gid, members: k }));
  } else if (msg.type === 'leave') {
    leave(m, gid);
    m.ws.send(JSON.stringify({ type: 'left', group_id: gid, members: rooms.has(gid) ? rooms.get(gid).size : 0 }));
  } else if (msg.type === 'message') {
    if (!m.rooms.has(gid)) return sendError(m, `not a member of ${gid}`);
    m.c.relayed++;
    const env = JSON.stringify({ type: 'message', group_id: gid, from: m.user, content: msg.content, ts: Date.now() });
    for (const o of rooms.get(gid)) if (o !== m || args.echoSelf) deliver(o, env, false);
  } else {
    sendError(m, `unknown type ${msg.type}`);
  }
}

const server = http.createServer((req, res) => { res.writeHead(404); res.end('websocket only\n'); });
const wss = new WebSocketServer({ server, maxPayload: 4 << 20 });
wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x');
  const m = { ws, rooms: new Set(), user: url.pathname.startsWith('/ws/u') ? url.pathname.slice(4) : (url.searchParams.get('user') || 'anon'),
    c: { frames_rcvd: 0, relayed: 0, deliveries: 0, dropped: 0, errors_sent: 0, pings_sent: 0, pongs_rcvd: 0 } };
  const room = url.searchParams.get('room') || 'default';
  if (!args.json) join(m, room);
  total.sessions++;
  let closeSent = null; let timer = null; let deadline = null;
  ws.on('pong', () => { m.c.pongs_rcvd++; if (deadline) { clearTimeout(deadline); deadline = null; } });
  if (args.pingInterval > 0) {
    // Like ws's README heartbeat, with a deadline: a pong later than --ping-timeout closes 1011.
    const tick = () => {
      m.c.pings_sent++;
      ws.ping();
      if (!deadline) {
        deadline = setTimeout(() => {
          closeSent = 1011;
          ws.close(1011, 'keepalive ping timeout');
          setTimeout(() => ws.terminate(), 1000).unref();
        }, args.pingTimeout * 1000);
      }
      timer = setTimeout(tick, args.pingInterval * 1000);
    };
    timer = setTimeout(tick, args.pingInterval * 1000);
  }
  ws.on('message', (data, isBinary) => {
    m.c.frames_rcvd++;
    if (args.json) return onJson(m, data, isBinary);
    m.c.relayed++;
    for (const o of rooms.get(room) || []) if (o !== m || args.echoSelf) deliver(o, data, isBinary);
  });
  ws.on('close', (code) => {
    if (timer) clearTimeout(timer);
    if (deadline) clearTimeout(deadline);
    for (const r of [...m.rooms]) leave(m, r);
    // ws 8 keeps whether each close frame went: the code of a received one is `code`.
    const closeRcvd = ws._closeFrameReceived ? code : null;
    if (closeSent === null && ws._closeFrameSent) closeSent = code;
    for (const k of Object.keys(m.c)) total[k] += m.c[k];
    emit({ event: 'session', mode: args.json ? 'json' : 'raw', room: args.json ? null : room, user: m.user, ...m.c,
      close_rcvd: closeRcvd, close_sent: closeSent, close_code: code });
  });
});
server.listen(args.port, args.host, () => {
  emit({ event: 'listening', server: 'ws_relay.js', port: server.address().port, ws: require('ws/package.json').version });
});
process.on('SIGTERM', () => {
  for (const c of wss.clients) c.close(1001, 'going away');
  setTimeout(() => { emit({ event: 'summary', ...total }); process.exit(0); }, 300);
});

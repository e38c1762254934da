/**
 * Client side of each wire protocol, as small as the load generator needs: open, authenticate with
 * a JWT, subscribe to a list of logical channels, answer application-level pings. Adding a protocol
 * is one entry in ADAPTERS.
 */
import type { WebSocket } from 'ws';
import { PUSHER_APP } from './common.js';

export interface ClientAdapter {
  /** WebSocket URL (path + query) for this client. */
  path(token: string): string;
  /** Connection opened: send what the protocol needs first. */
  open(ws: WebSocket, token: string, channels: readonly string[], st: ClientState): void;
  /**
   * A non-publication frame arrived (publication frames never come here before ready).
   * Returns true once every subscription is confirmed.
   */
  control(ws: WebSocket, text: string, token: string, channels: readonly string[], st: ClientState): boolean;
  /** Application-level ping inside a frame that may also carry publications: answer it. */
  ping?(ws: WebSocket, text: string): void;
}

export interface ClientState {
  acks: number;
}

const raw: ClientAdapter = {
  path: (token) => `/ws?token=${token}`,
  open(ws, _t, channels) {
    ws.send(JSON.stringify({ sub: channels }));
  },
  control: (_ws, text) => text === '{"ok":true}',
};

/** Engine.IO 4 / Socket.IO 4 over a WebSocket, spoken directly. */
const socketio: ClientAdapter = {
  path: () => '/socket.io/?EIO=4&transport=websocket',
  open() {},
  control(ws, text, token, channels) {
    if (text.startsWith('0{')) ws.send(`40${JSON.stringify({ token })}`);
    else if (text.startsWith('40')) ws.send(`42${JSON.stringify(['join', channels])}`);
    else if (text === '2') ws.send('3');
    else if (text.startsWith('44')) throw new Error(`socket.io refused: ${text}`);
    return text === '42["ok"]';
  },
  ping(ws, text) {
    if (text === '2') ws.send('3');
  },
};

/**
 * PondSocket: JOIN_CHANNEL per channel once the server said the connection is accepted, one
 * ACKNOWLEDGE each. The npm server 0.1.70 sends no connect frame (its bench app sends a `ready`
 * message); Switchboard's pond protocol sends CONNECT/CONNECTION as client 0.0.32 expects.
 */
function pond(prefix: string, acceptedWhen: string): ClientAdapter {
  return {
    path: (token) => `/pond?token=${token}`,
    open() {},
    control(ws, text, _t, channels, st) {
      for (const line of text.split('\n')) {
        if (line.includes(acceptedWhen) && line.includes('"ENDPOINT"')) {
          let i = 0;
          for (const ch of channels) {
            ws.send(JSON.stringify({ action: 'JOIN_CHANNEL', event: 'JOIN_CHANNEL', channelName: prefix + ch, requestId: `j${i++}`, payload: {} }));
          }
        } else if (line.includes('"ACKNOWLEDGE"')) st.acks++;
        else if (line.includes('"ERROR"') || line.includes('"UNAUTHORIZED"')) throw new Error(`pond join refused: ${line.slice(0, 200)}`);
      }
      return st.acks >= channels.length;
    },
  };
}

/** Switchboard's plain JSON protocol: token at the upgrade, one subscribe frame per channel. */
const plain: ClientAdapter = {
  path: (token) => `/plain?token=${token}`,
  open(ws, _t, channels) {
    for (const ch of channels) ws.send(JSON.stringify({ type: 'subscribe', channel: ch }));
  },
  control(_ws, text, _t, channels, st) {
    if (text.startsWith('{"type":"subscribed"')) st.acks++;
    else if (text.startsWith('{"type":"error"')) throw new Error(`plain refused: ${text.slice(0, 200)}`);
    return st.acks >= channels.length;
  },
};

/** Phoenix Channels V2: token at the upgrade, one phx_join per channel, one ok reply each (liveness: WebSocket pings). */
const phoenix: ClientAdapter = {
  path: (token) => `/socket/websocket?token=${token}&vsn=2.0.0`,
  open(ws, _t, channels) {
    let ref = 1;
    for (const ch of channels) {
      const r = String(ref++);
      ws.send(JSON.stringify([r, r, ch, 'phx_join', {}]));
    }
  },
  control(_ws, text, _t, channels, st) {
    if (!text.includes('"phx_reply"')) return st.acks >= channels.length;
    if (text.includes('"status":"ok"')) st.acks++;
    else throw new Error(`phoenix join refused: ${text.slice(0, 200)}`);
    return st.acks >= channels.length;
  },
};

function isCentrifugePing(text: string): boolean {
  return text === '{}' || text.startsWith('{}\n') || text.includes('\n{}');
}

/** Centrifugo client protocol v2, JSON: connect and every subscribe in one frame. */
const centrifuge: ClientAdapter = {
  path: () => '/connection/websocket',
  open(ws, token, channels) {
    const lines = [JSON.stringify({ id: 1, connect: { token, name: 'bench' } })];
    let id = 2;
    for (const ch of channels) lines.push(JSON.stringify({ id: id++, subscribe: { channel: ch } }));
    ws.send(lines.join('\n'));
  },
  control(ws, text, _t, channels, st) {
    for (const line of text.split('\n')) {
      if (line === '{}') ws.send('{}');
      else if (line.includes('"error"') || line.includes('"disconnect"')) throw new Error(`centrifuge refused: ${line.slice(0, 200)}`);
      else if (line.includes('"subscribe":')) st.acks++;
    }
    return st.acks >= channels.length;
  },
  ping(ws, text) {
    if (isCentrifugePing(text)) ws.send('{}');
  },
};

/**
 * Pusher protocol 7, as pusher-js speaks it: no token (the app key is in the path), one
 * `pusher:subscribe` per public channel once `connection_established` came, one
 * `subscription_succeeded` each; the server's `pusher:ping` is answered with `pusher:pong`.
 */
const pusher: ClientAdapter = {
  path: () => `/app/${PUSHER_APP.key}?protocol=7&client=bench&version=1`,
  open() {},
  control(ws, text, _t, channels, st) {
    if (text.startsWith('{"event":"pusher:connection_established"')) {
      for (const ch of channels) ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { auth: '', channel: ch } }));
    } else if (text.startsWith('{"event":"pusher_internal:subscription_succeeded"')) st.acks++;
    else if (text.startsWith('{"event":"pusher:error"') || text.startsWith('{"event":"pusher:subscription_error"')) throw new Error(`pusher refused: ${text.slice(0, 200)}`);
    else if (text.startsWith('{"event":"pusher:ping"')) ws.send('{"event":"pusher:pong","data":{}}');
    return st.acks >= channels.length;
  },
  ping(ws, text) {
    if (text.startsWith('{"event":"pusher:ping"')) ws.send('{"event":"pusher:pong","data":{}}');
  },
};

export const ADAPTERS: Record<string, ClientAdapter> = {
  raw,
  socketio,
  pondsocket: pond('/c/', '"ready"'),
  sbpond: pond('', '"CONNECTION"'),
  plain,
  phoenix,
  centrifuge,
  pusher,
};

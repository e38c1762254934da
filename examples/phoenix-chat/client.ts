// The page's script (bundled by server.ts): the official `phoenix` client, unchanged.
// URL parameters: name (the user), device (this tab's device label), room (default "lobby").
import { LongPoll, Presence, Socket } from 'phoenix';

interface Meta {
  phx_ref: string;
  conn_info?: { device?: string };
  chan_info?: { status?: string };
}

const q = new URLSearchParams(location.search);
const name = q.get('name') ?? 'guest';
const device = q.get('device') ?? 'browser';
const room = q.get('room') ?? 'lobby';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
$('room').textContent = room;

async function token(): Promise<string> {
  const res = await fetch(`/token?name=${encodeURIComponent(name)}`);
  if (!res.ok) throw new Error(await res.text());
  return ((await res.json()) as { token: string }).token;
}

// WebSocket first; where it does not work within 2.5 s (blocked by a proxy), LongPoll.
const socket = new Socket('/socket', { params: { token: await token(), device }, longPollFallbackMs: 2500 });
socket.onOpen(() => {
  $('state').textContent = 'connected';
  $('transport').textContent = (socket as unknown as { transport: unknown }).transport === LongPoll ? 'longpoll' : 'websocket';
});
socket.onClose(() => {
  $('state').textContent = 'reconnecting';
});
socket.connect();

// Recovery beyond Phoenix: remember the position of the last message seen and send it back at
// every rejoin; the server replays what this tab missed while it was away.
let last: string | undefined;
const channel = socket.channel(`room:${room}`, () => (last === undefined ? {} : { recover: last }));
const onMessage = channel.onMessage.bind(channel);
channel.onMessage = (event: string, payload: unknown, ref: unknown) => {
  if (typeof ref === 'string' && ref.includes(':')) last = ref;
  return onMessage(event, payload, ref) as unknown;
};

channel.on('message', ({ from, text }: { from: string; text: string }) => {
  const li = document.createElement('li');
  li.textContent = `${from}: ${text}`;
  $('messages').append(li);
});

// Who is online: one line per user, listing the devices (tabs) the user is here with.
const presence = new Presence(channel);
presence.onSync(() => {
  const who = $('who');
  who.replaceChildren(
    ...presence.list((user: string, { metas }: { metas: Meta[] }) => {
      const li = document.createElement('li');
      li.dataset.user = user;
      const devices = metas.map((m) => `${m.conn_info?.device ?? '?'} (${m.chan_info?.status ?? 'online'})`).sort();
      li.innerHTML = `<b class="name"></b> <span class="devices"></span>`;
      li.querySelector('.name')!.textContent = user + (user === name ? ' (you)' : '');
      li.querySelector('.devices')!.textContent = devices.join(', ');
      return li;
    }),
  );
});

channel
  .join()
  .receive('ok', () => {
    for (const id of ['text', 'status']) $<HTMLInputElement>(id).disabled = false;
    $('send').querySelector('button')!.disabled = false;
  })
  .receive('error', ({ reason }: { reason: string }) => {
    $('error').textContent = reason;
    channel.leave();
  });

const showError = ({ reason }: { reason: string }) => ($('error').textContent = reason);

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('text');
  channel.push('message', { text: input.value }).receive('ok', () => (input.value = '')).receive('error', showError);
});
$('status').addEventListener('change', () => {
  channel.push('status', { status: $<HTMLSelectElement>('status').value }).receive('error', showError);
});

// A Solid page without JSX (solid-js/html): connection state, the latest message, a toggle that
// disposes the component holding the subscription.
import { createSignal, Show } from 'solid-js';
import { render } from 'solid-js/web';
import html from 'solid-js/html';
import { createRealtime } from '@switchboard/client';
import { RealtimeProvider, createConnectionState, createLatestMessage } from '@switchboard/solid';

type Schema = { 'chat:room': { text: string } };

const realtime = createRealtime<Schema>({
  url: `ws://${location.host}/connection/websocket`,
  getToken: async () => ((await (await fetch('/token?user=solid')).json()) as { token: string }).token,
});

function Feed() {
  const last = createLatestMessage<Schema, 'chat:room'>('chat:room');
  return html`<p id="last">${() => last()?.text ?? ''}</p>`;
}

function Status() {
  const state = createConnectionState();
  return html`<p id="state">${state}</p>`;
}

function App() {
  const [show, setShow] = createSignal(true);
  return html`<${RealtimeProvider} realtime=${realtime}>
    <${Status} />
    <button id="toggle" onClick=${() => setShow((s) => !s)}>toggle</button>
    <${Show} when=${show}><${Feed} /></${Show}>
  </${RealtimeProvider}>`;
}

render(App, document.getElementById('app')!);

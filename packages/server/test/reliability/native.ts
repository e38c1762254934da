// Small helpers for the reliability suites: a raw native-protocol (Centrifugo v2 JSON) client.
import { RawClient, token } from '../helpers.js';

export type Msg = Record<string, unknown> & { id?: number; error?: { code: number; message: string }; push?: Record<string, unknown> };

/** A raw client that connects with a token for `user` (or anonymously) and returns its client id. */
export async function connectNative(url: string, user: string | undefined, extra: Record<string, unknown> = {}): Promise<{ c: RawClient; client: string }> {
  const c = new RawClient(url);
  await c.opened;
  const params: Record<string, unknown> = { ...extra };
  if (user !== undefined) params['token'] = await token({ sub: user });
  c.send({ id: 1, connect: params });
  const r = await c.next<Msg>((m) => m.id === 1);
  if (r.error) throw new Error(`connect refused: ${JSON.stringify(r.error)}`);
  return { c, client: (r['connect'] as { client: string }).client };
}

let nextId = 100;

/** Sends one command and waits for its reply. */
export async function command(c: RawClient, method: string, params: Record<string, unknown>, ms = 5000): Promise<Msg> {
  const id = nextId++;
  c.send({ id, [method]: params });
  return c.next<Msg>((m) => m.id === id, ms);
}

/** Publications pushed for `channel` that the client has received so far (removed from its inbox). */
export function takePubs(c: RawClient, channel: string): { data: unknown; offset?: number }[] {
  const out: { data: unknown; offset?: number }[] = [];
  for (let i = 0; i < c.messages.length; i++) {
    const m = c.messages[i] as Msg;
    const p = m.push as { channel?: string; pub?: { data: unknown; offset?: number } } | undefined;
    if (p?.channel === channel && p.pub) {
      out.push(p.pub);
      c.messages.splice(i, 1);
      i--;
    }
  }
  return out;
}

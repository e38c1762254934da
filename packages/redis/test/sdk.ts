import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { Centrifuge, type Subscription } from 'centrifuge';
import { waitForEvent, within } from '@switchboard/server/testing';
import { SECRET } from './cluster.js';

export async function token(user: string): Promise<string> {
  return new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(new TextEncoder().encode(SECRET));
}

/** What a client saw on one subscription; `timeline` keeps publications and subscribes in the order they happened. */
export interface SubRecord {
  sub: Subscription;
  pubs: { data: unknown; offset?: number }[];
  subscribed: { wasRecovering: boolean; recovered: boolean }[];
  unsubscribed: number[];
  subscribing: number[];
  timeline: ({ pub: { data: unknown; offset?: number } } | { subscribed: { wasRecovering: boolean; recovered: boolean } })[];
}

/** An official `centrifuge` SDK client that records what it sees. */
export class SdkClient {
  readonly c: Centrifuge;
  readonly disconnects: { code: number; reason: string }[] = [];
  /** Server-side subscriptions: channel → publications, and unsubscribes. */
  readonly serverSubs = new Map<string, unknown[]>();
  readonly serverUnsubs: string[] = [];
  readonly subs = new Map<string, SubRecord>();
  constructor(url: string, tok: string) {
    this.c = new Centrifuge(url, { websocket: WebSocket, token: tok, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 3000 });
    this.c.on('disconnected', (ctx) => this.disconnects.push({ code: ctx.code, reason: ctx.reason }));
    this.c.on('error', () => {});
    this.c.on('subscribed', (ctx) => {
      if (!this.serverSubs.has(ctx.channel)) this.serverSubs.set(ctx.channel, []);
    });
    this.c.on('publication', (ctx) => this.serverSubs.get(ctx.channel)?.push(ctx.data));
    this.c.on('unsubscribed', (ctx) => this.serverUnsubs.push(ctx.channel));
  }
  static async connect(url: string, user: string): Promise<SdkClient> {
    const s = new SdkClient(url, await token(user));
    const connected = new Promise<void>((resolve, reject) => {
      s.c.once('connected', () => resolve());
      s.c.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
    });
    s.c.connect();
    await within(connected, 10_000, `${user} to connect to ${url}`);
    return s;
  }
  async subscribe(channel: string): Promise<void> {
    const sub = this.c.newSubscription(channel);
    const rec: SubRecord = { sub, pubs: [], subscribed: [], unsubscribed: [], subscribing: [], timeline: [] };
    this.subs.set(channel, rec);
    sub.on('publication', (ctx) => {
      const pub = { data: ctx.data, ...(ctx.offset !== undefined ? { offset: ctx.offset } : {}) };
      rec.pubs.push(pub);
      rec.timeline.push({ pub });
    });
    sub.on('subscribed', (ctx) => {
      const s = { wasRecovering: ctx.wasRecovering, recovered: ctx.recovered };
      rec.subscribed.push(s);
      rec.timeline.push({ subscribed: s });
    });
    sub.on('unsubscribed', (ctx) => rec.unsubscribed.push(ctx.code));
    sub.on('subscribing', (ctx) => rec.subscribing.push(ctx.code));
    sub.on('error', () => {});
    const done = waitForEvent(sub, 'subscribed', 10_000);
    sub.subscribe();
    await done;
  }
  pubs(channel: string): { data: unknown; offset?: number }[] {
    return this.subs.get(channel)?.pubs ?? [];
  }
  get state(): string {
    return this.c.state;
  }
  close(): void {
    this.c.disconnect();
  }
}

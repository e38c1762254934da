import type { ControlMessage, NodeInfo } from './control-messages.js';
import type { Hub } from './hub.js';
import { newClientId } from './internal/ids.js';
import type { NodeContext } from './node-context.js';
import { VERSION } from './options.js';

interface Survey {
  readonly replies: unknown[];
  readonly waiting: Set<string>;
  readonly done: (replies: unknown[]) => void;
  readonly timer: NodeJS.Timeout;
}

const ANNOUNCE_EVERY_MS = 3_000;
const FORGET_AFTER_MS = 15_000;

/**
 * The nodes of the server as this node knows them (from their periodic announcements over the
 * control plane), and surveys: a question to every node, answered by each, with a timeout.
 */
export class NodeRegistry {
  readonly #nodes = new Map<string, NodeInfo & { seenAt: number }>();
  readonly #surveys = new Map<string, Survey>();
  /** Answers to survey kinds beyond the built-in ones (connection queries), by kind. */
  readonly surveyHandlers = new Map<string, (data: unknown) => unknown>();
  #closed = false;

  constructor(
    readonly ctx: NodeContext,
    readonly hub: Hub,
    readonly send: (m: ControlMessage) => Promise<void>,
  ) {}

  static readonly announceEveryMs = ANNOUNCE_EVERY_MS;

  localInfo(): NodeInfo {
    const hub = this.hub;
    return {
      uid: this.ctx.id,
      name: this.ctx.name,
      version: VERSION,
      num_clients: hub.connections.size,
      num_users: hub.users.size,
      num_subs: hub.subscriptionCount(),
      num_channels: hub.channels.size,
      uptime: Math.floor((Date.now() - this.ctx.startedAt) / 1000),
    };
  }

  async announce(): Promise<void> {
    try {
      await this.send({ op: 'node', info: this.localInfo() });
    } catch (err) {
      this.ctx.logger.warn({ err }, 'node announcement failed');
    }
    const cutoff = Date.now() - FORGET_AFTER_MS;
    for (const [uid, n] of this.#nodes) if (n.seenAt < cutoff && uid !== this.ctx.id) this.#nodes.delete(uid);
  }

  onNode(info: NodeInfo): void {
    const known = this.#nodes.has(info.uid);
    this.#nodes.set(info.uid, { ...info, seenAt: Date.now() });
    // A node we had not heard of learns of us at once, not at our next periodic announcement:
    // otherwise a survey (channels) it makes right after starting would not wait for our answer.
    if (!known && info.uid !== this.ctx.id && !this.#closed) void this.announce();
  }

  async onSurvey(kind: string, id: string, from: string, question?: unknown): Promise<void> {
    let data: unknown;
    const handler = this.surveyHandlers.get(kind);
    if (handler) data = await handler(question);
    else if (kind === 'channels') {
      const out: Record<string, number> = {};
      for (const [ch, st] of this.hub.channels) out[ch] = st.subs.size;
      data = out;
    }
    await this.send({ op: 'survey-reply', id, to: from, data });
  }

  onSurveyReply(id: string, to: string, from: string, data: unknown): void {
    if (to !== this.ctx.id) return;
    const s = this.#surveys.get(id);
    if (!s) return;
    s.replies.push(data);
    s.waiting.delete(from);
    if (s.waiting.size === 0) {
      clearTimeout(s.timer);
      this.#surveys.delete(id);
      s.done(s.replies);
    }
  }

  /** Ask every known node (this one included); resolves with the replies that came within `timeoutMs`. */
  survey(kind: string, timeoutMs = 3_000, question?: unknown): Promise<unknown[]> {
    const id = newClientId();
    const waiting = new Set(this.#nodes.keys());
    waiting.add(this.ctx.id);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#surveys.delete(id);
        resolve(s.replies);
      }, timeoutMs);
      timer.unref();
      const s: Survey = { replies: [], waiting, done: resolve, timer };
      this.#surveys.set(id, s);
      this.send({ op: 'survey', kind, id, ...(question !== undefined ? { data: question } : {}) }).catch(() => {
        clearTimeout(timer);
        this.#surveys.delete(id);
        resolve(s.replies);
      });
    });
  }

  /** Whether a node with this id is live (announced within the last 15 s), this one included. */
  has(id: string): boolean {
    if (id === this.ctx.id) return true;
    const n = this.#nodes.get(id);
    return n !== undefined && n.seenAt >= Date.now() - FORGET_AFTER_MS;
  }

  /** Every live node (this one included), as the last announcements described them. */
  nodes(): NodeInfo[] {
    this.#nodes.set(this.ctx.id, { ...this.localInfo(), seenAt: Date.now() });
    return [...this.#nodes.values()].map(({ seenAt: _s, ...n }) => n);
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#surveys.values()) clearTimeout(s.timer);
    this.#surveys.clear();
  }
}

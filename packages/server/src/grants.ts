/**
 * Per-connection channel grants that come from the connection token's claims, on top of the
 * namespace rules:
 *
 * - `subscribeByClaim` (a namespace option): `{ user: 'sub', org: 'orgs' }` lets a connection
 *   subscribe to `<ns>:user:<id>` only when its user (`sub`) is `<id>`, and to `<ns>:org:<id>`
 *   only when its `orgs` claim holds `<id>`. The namespace's other channels (`<ns>:global`) keep
 *   the namespace's ordinary rules.
 * - `caps` (a connection token claim, Centrifugo's shape): `[{ "channels": ["news"], "allow":
 *   ["sub"] }]` grants `sub`, `pub`, `prs` (presence) or `hst` (history) on the listed channels
 *   (exact names, or `*` patterns with `"match": "wildcard"`). The first entry whose channels match
 *   decides; an entry with another `match` kind never matches.
 *
 * Pure functions: the node calls them from its permission checks.
 */

/** What a capability grants: subscribe, publish, presence, history, pattern subscribe (`psub`, issue 21). */
export type Capability = 'sub' | 'pub' | 'prs' | 'hst' | 'psub';

/** The claims a connection was authenticated with (the token's payload), if any. */
export type Claims = Readonly<Record<string, unknown>> | undefined;

/** Whether `value` (a claim: a string, a number, or an array of them) holds `id`. */
function holds(value: unknown, id: string): boolean {
  if (typeof value === 'string' || typeof value === 'number') return String(value) === id;
  return Array.isArray(value) && value.some((v) => (typeof v === 'string' || typeof v === 'number') && String(v) === id);
}

/**
 * The `subscribeByClaim` verdict for a channel of namespace `namespace`: undefined when the rule
 * does not apply to it (no such option, or the channel's first segment after the namespace names
 * no claim), else whether this connection owns the channel. Anonymous connections own nothing.
 */
export function ownsChannel(
  channel: string,
  namespace: string,
  byClaim: Readonly<Record<string, string>> | undefined,
  user: string,
  claims: Claims,
): boolean | undefined {
  if (byClaim === undefined || namespace === '' || !channel.startsWith(`${namespace}:`)) return undefined;
  const rest = channel.slice(namespace.length + 1);
  const i = rest.indexOf(':');
  if (i < 0) return undefined;
  const claim = Object.hasOwn(byClaim, rest.slice(0, i)) ? byClaim[rest.slice(0, i)] : undefined;
  if (claim === undefined) return undefined;
  if (user === '') return false;
  const id = rest.slice(i + 1);
  return holds(claim === 'sub' ? user : claims?.[claim], id);
}

function wildcard(pattern: string, s: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === s;
  if (!s.startsWith(parts[0]!) || !s.endsWith(parts[parts.length - 1]!)) return false;
  let at = parts[0]!.length;
  const end = s.length - parts[parts.length - 1]!.length;
  for (let k = 1; k < parts.length - 1; k++) {
    const j = s.indexOf(parts[k]!, at);
    if (j < 0 || j + parts[k]!.length > end) return false;
    at = j + parts[k]!.length;
  }
  return at <= end;
}

/** Whether the token's `caps` claim grants `what` on `channel`. */
export function capAllows(claims: Claims, channel: string, what: Capability): boolean {
  const caps = claims?.['caps'];
  if (!Array.isArray(caps)) return false;
  for (const cap of caps) {
    if (typeof cap !== 'object' || cap === null) continue;
    const { channels, allow, match } = cap as { channels?: unknown; allow?: unknown; match?: unknown };
    if (!Array.isArray(channels)) continue;
    const kind = match === undefined || match === '' ? 'exact' : match;
    const matches = channels.some((c) => typeof c === 'string' && (kind === 'exact' ? c === channel : kind === 'wildcard' && wildcard(c, channel)));
    if (matches) return Array.isArray(allow) && allow.includes(what);
  }
  return false;
}

/**
 * The subscribe verdict once the token's grants are applied to the namespace's (`byNamespace`):
 * a `caps` grant allows; a channel the `subscribeByClaim` rule covers belongs to its owners only.
 */
export function subscribeGrant(
  channel: string,
  namespace: string,
  byClaim: Readonly<Record<string, string>> | undefined,
  user: string,
  claims: Claims,
  byNamespace: boolean,
): boolean {
  if (capAllows(claims, channel, 'sub')) return true;
  return ownsChannel(channel, namespace, byClaim, user, claims) ?? byNamespace;
}

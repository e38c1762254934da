/** Markdown for the density and storm scenarios, with a summary generated from the result. */
import { metaLine } from './meta.js';
import type { DensityResult } from './density.js';

const kb = (b: number) => (b / 1024).toFixed(1);
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

function loadCaveat(r: DensityResult): string {
  const l = r.meta.loadStart[0] ?? 0;
  return l > r.meta.cores
    ? `The machine was shared and busy (load average ${l} on ${r.meta.cores} cores at the start, ${r.meta.loadEnd?.[0] ?? '?'} at the end): CPU figures and times are inflated and noisy; memory figures are not affected by load.`
    : `Load average ${l} on ${r.meta.cores} cores at the start.`;
}

export function densityMarkdown(r: DensityResult): string {
  const lines: string[] = [`${metaLine(r.meta)}; open files limit ${r.meta.fdLimit}; ${r.meta.config.sources} loopback source addresses.`, ''];
  const sb = r.systems.find((s) => s.id === 'sb-native' && !s.error);
  const ws = r.systems.find((s) => s.id === 'ws-loop' && !s.error);
  if (r.meta.scenario === 'density') {
    const top = sb?.levels[sb.levels.length - 1];
    const wsTop = top && ws?.levels.find((l) => l.n === top.n);
    if (top) {
      lines.push(
        `Summary (generated): at ${top.connected} idle connections, each with a JWT and two subscriptions, Switchboard's server used ${kb(top.rssPerConn)} KB RSS and ${kb(top.heapPerConn)} KB JS heap per connection` +
          (wsTop ? ` against raw ws's ${kb(wsTop.rssPerConn)} KB RSS (${top.rssPerConn >= wsTop.rssPerConn ? '+' : ''}${kb(top.rssPerConn - wsTop.rssPerConn)} KB; the target is at most +1.0 KB)` : '') +
          `; idle CPU ${top.idleCpuPct.toFixed(2)} % of a core; one broadcast reached all ${top.broadcastDelivered} in ${top.broadcastMs.toFixed(0)} ms.`,
        '',
      );
    }
    lines.push(row(['system', 'N', 'subscribed', 'RSS KB/conn', 'heap KB/conn', 'external KB/conn', 'server RSS MB', 'idle CPU % core', 'idle CPU µs/conn/s', 'broadcast to all ms', 'delivered']));
    lines.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const s of r.systems) {
      if (s.error) lines.push(row([s.id, '', '', '', '', '', '', '', '', '', `error: ${s.error}`]));
      for (const l of s.levels) {
        lines.push(row([s.id, l.n, l.connected, kb(l.rssPerConn), kb(l.heapPerConn), kb(l.externalPerConn), (l.rss / 1048576).toFixed(0), l.idleCpuPct.toFixed(2), l.idleCpuUsPerConnSec.toFixed(3), l.broadcastMs.toFixed(0), l.broadcastDelivered]));
      }
    }
    lines.push('');
    lines.push(
      `Caveats: per-connection figures are (value after \`gc()\` − the baseline's) / the connections added after it, the baseline being the server holding a few warm-up connections (an empty server has not loaded its connection paths yet); they include the two subscriptions and the JWT's claims; kernel socket buffers are not in RSS. Idle CPU is the server's user+system time over a ${r.meta.config.idleWindowMs} ms window with every connection idle (Switchboard's and Socket.IO's pings run at their defaults, 25 s, so a short window may miss them). Broadcast time is from the publish call to the last delivery seen by the load generators, which parse on the same cores. ${loadCaveat(r)}`,
    );
  } else {
    if (sb?.storm) {
      const s = sb.storm;
      lines.push(
        `Summary (generated): Switchboard absorbed ${s.initial.connections} JWT connects + 2 subscribes at ${s.initial.perCoreSec.toFixed(0)} per CPU-second of its one thread, then a reconnect storm of ${s.reconnect.connections} (spread over ${s.spreadMs} ms) with ${s.reconnect.failed} failures; one broadcast afterwards reached ${s.afterBroadcast.delivered}.`,
        '',
      );
    }
    lines.push(row(['system', 'wave', 'subscribed', 'failed', 'wall s', 'conn/s wall', 'conn/s per CPU-second', 'server CPU µs/conn', 'broadcast after: delivered']));
    lines.push(row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    for (const s of r.systems) {
      if (s.error) lines.push(row([s.id, '', '', '', '', '', '', '', `error: ${s.error}`]));
      if (!s.storm) continue;
      for (const [name, w] of [['initial', s.storm.initial], [`reconnect (spread ${s.storm.spreadMs} ms)`, s.storm.reconnect]] as const) {
        lines.push(row([s.id, name, w.connections, w.failed, (w.ms / 1000).toFixed(2), w.perSec.toFixed(0), w.perCoreSec.toFixed(0), w.cpuUsPerConn.toFixed(0), name === 'initial' ? '' : s.storm.afterBroadcast.delivered]));
      }
    }
    lines.push('');
    lines.push(
      `Caveats: every system verifies the same HS256 JWT per connection (tokens signed before the clock starts); a connection counts when its subscriptions are confirmed. "Per CPU-second" divides by the server process's CPU time, so it is the rate one core absorbs, less sensitive to load than the wall-clock rate. The reconnect storm drops every connection from the client side and reopens each after a uniform random delay; its server CPU includes closing the dropped connections. ${loadCaveat(r)}`,
    );
  }
  for (const n of r.notRun) lines.push('', `- not run: ${n}`);
  return lines.join('\n');
}
